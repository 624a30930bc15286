// Tradekeep dashboard: live updates and small conveniences. Every page works without this file.
"use strict";
(function () {
  document.documentElement.classList.add("js");

  // New bot: show only the chosen strategy's fields.
  const strategy = document.getElementById("strategy");
  if (strategy) {
    const sync = function () {
      document.querySelectorAll("fieldset[data-strategy]").forEach(function (set) {
        set.classList.toggle("off", set.dataset.strategy !== strategy.value);
      });
    };
    strategy.addEventListener("change", sync);
    sync();
  }

  const main = document.getElementById("main");
  if (!main || main.dataset.live !== "on") return;

  function text(value) { return value === null || value === undefined ? "" : String(value); }

  function cell(row, index, value) { if (row.cells[index]) row.cells[index].textContent = text(value); }

  function countOpen() {
    const body = document.querySelector("#open-orders tbody");
    const count = body ? body.rows.length : 0;
    const label = document.getElementById("open-count");
    if (label) label.textContent = String(count);
    const empty = document.getElementById("no-orders");
    if (empty) empty.hidden = count > 0;
  }

  const botFilter = document.querySelector(".summary[data-bot-id]");
  const onlyBot = botFilter ? botFilter.dataset.botId : null;

  function apply(event) {
    if (event.type === "order") {
      const body = document.querySelector("#open-orders tbody");
      if (!body) return;
      let row = body.querySelector('tr[data-order-id="' + CSS.escape(event.id) + '"]');
      if (event.status === "closed" || event.status === "filled" || event.status === "cancelled") {
        if (row) row.remove();
      } else if (!onlyBot || event.bot_id === onlyBot) {
        if (!row) {
          row = body.insertRow();
          row.dataset.orderId = event.id;
          for (let i = 0; i < 6; i++) row.insertCell();
          const botRow = document.querySelector('#bots tr[data-bot-id="' + CSS.escape(event.bot_id) + '"] a');
          cell(row, 0, botRow ? botRow.textContent : event.bot_id.slice(0, 8));
        }
        cell(row, 1, event.side); cell(row, 2, event.price); cell(row, 3, event.quantity);
        cell(row, 4, event.filled_quantity); cell(row, 5, event.status);
      }
      countOpen();
    } else if (event.type === "bot") {
      document.querySelectorAll('[data-bot-id="' + CSS.escape(event.id) + '"]').forEach(function (el) {
        const status = el.querySelector(".status");
        if (status) { status.dataset.status = event.status; status.textContent = event.status; }
        const pnl = el.querySelector(".pnl");
        if (pnl && event.pnl !== undefined) pnl.textContent = text(event.pnl);
      });
    } else if (event.type === "price") {
      document.querySelectorAll('[data-market="' + CSS.escape(event.market) + '"]').forEach(function (el) {
        el.textContent = text(event.price);
      });
    }
  }

  let attempts = 0;
  function poll() {
    // Fallback without WebSockets (TLS with HTTP/2): the same lines, fetched.
    fetch("/live", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (lines) { lines.forEach(apply); })
      .catch(function () {})
      .finally(function () { setTimeout(poll, 3000); });
  }

  function connect() {
    fetch("/api/v1/ws/tickets", { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("ticket " + r.status); return r.json(); })
      .then(function (answer) {
        const scheme = location.protocol === "https:" ? "wss://" : "ws://";
        const socket = new WebSocket(scheme + location.host + "/api/v1/ws?ticket=" + encodeURIComponent(answer.ticket));
        let opened = false;
        socket.addEventListener("open", function () { opened = true; attempts = 0; main.dataset.liveState = "connected"; });
        socket.addEventListener("message", function (message) {
          try { apply(JSON.parse(message.data)); } catch (error) { /* a line we do not know */ }
        });
        socket.addEventListener("close", function () {
          main.dataset.liveState = "closed";
          if (!opened && attempts > 1) { poll(); return; }
          attempts += 1;
          setTimeout(connect, Math.min(30000, 1000 * attempts));
        });
      })
      .catch(function () { attempts += 1; if (attempts > 2) poll(); else setTimeout(connect, 2000); });
  }
  connect();
})();
