// SigV4 on AWS's get-vanilla vector (../shared/vectors/venues.json) and against botocore's signer.

import Foundation
import InteropSupport
import Testing

@testable import Vault

@Suite struct SigV4Tests {
    struct Vector: Decodable {
        let access_key: String
        let secret_key: String
        let region: String
        let service: String
        let time: String
        let canonical_request: String
        let string_to_sign: String
        let signing_key_hex: String
        let signature: String
    }

    static let vector: Vector = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors/venues.json")
        let object = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return try! JSONDecoder().decode(Vector.self, from: JSONSerialization.data(withJSONObject: object["aws_sigv4_get_vanilla"]!))
    }()

    @Test("get-vanilla: canonical request, string to sign, signing key and signature are AWS's")
    func getVanilla() throws {
        let v = Self.vector
        let date = try Date(v.time, strategy: .iso8601)
        let credentials = AWSCredentials(accessKeyID: v.access_key, secretAccessKey: v.secret_key)
        let signed = SigV4.sign(
            method: "GET",
            path: "/",
            headers: [("Host", "example.amazonaws.com")],
            body: [],
            credentials: credentials,
            region: v.region,
            service: v.service,
            date: date
        )
        #expect(signed.canonicalRequest == v.canonical_request)
        #expect(signed.stringToSign == v.string_to_sign)
        let key = SigV4.signingKey(secret: SecretBytes(copying: Array(v.secret_key.utf8)), day: "20150830", region: v.region, service: v.service)
        #expect(key.withUnsafeBytes { SigV4.hex($0) } == v.signing_key_hex)
        #expect(signed.signature == v.signature)
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(v.signature)"
        )
    }

    @Test(
        "KMS-style POSTs sign exactly as botocore signs them (with and without a session token, odd header spacing)",
        .enabled(if: Python.interopAvailable || Python.requireAll, "needs python3 with botocore (pip install -r interop/requirements.txt)")
    )
    func botocore() throws {
        let date = Date(timeIntervalSince1970: 1_790_000_000)
        let (amzDate, _) = SigV4.timestamp(date)
        let cases: [(token: String?, body: String, target: String)] = [
            (nil, #"{"KeyId":"alias/tradekeep","KeySpec":"AES_256"}"#, "TrentService.GenerateDataKey"),
            (
                "FQoGZXIvYXdzE//session+token/=", #"{"CiphertextBlob":"AQID","EncryptionContext":{"owner":"u","purpose":"totp","record":"r"}}"#,
                "TrentService.Decrypt"
            ),
            (nil, "", "TrentService.DescribeKey"),
        ]
        var requests: [[String: Any]] = []
        var ours: [SigV4.Signed] = []
        for item in cases {
            let credentials = AWSCredentials(
                accessKeyID: "AKIDEXAMPLE",
                secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                sessionToken: item.token
            )
            let headers = [
                ("Host", "kms.eu-west-1.amazonaws.com"), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "  \(item.target)  "),
            ]
            ours.append(
                SigV4.sign(
                    method: "POST",
                    path: "/",
                    headers: headers,
                    body: Array(item.body.utf8),
                    credentials: credentials,
                    region: "eu-west-1",
                    service: "kms",
                    date: date
                )
            )
            var request: [String: Any] = [
                "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "method": "POST",
                "url": "https://kms.eu-west-1.amazonaws.com/", "body": item.body, "amz_date": amzDate, "service": "kms", "region": "eu-west-1",
                "headers": Dictionary(uniqueKeysWithValues: headers.filter { $0.0 != "Host" }),
            ]
            if let token = item.token { request["session_token"] = token }
            requests.append(request)
        }
        let answers = try #require(try Python.interop("sigv4.py", ["cases": requests])["answers"] as? [[String: String]])
        for (signed, answer) in zip(ours, answers) {
            #expect(signed.canonicalRequest == answer["canonical_request"])
            #expect(signed.signature == answer["signature"])
        }
    }
}
