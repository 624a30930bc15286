/* Header-only target: see include/tradekeep_pkcs11.h. */
