// OdooOps web shell: xterm.js terminals attached to the console's WebSocket, and the
// transcript player. Elements opt in with data attributes, so the Leptos pages only render
// markup:
//   <div data-shell-session="ID">   a live terminal for session ID (reattaches on drops)
//   <div data-shell-status="ID">    its status line (connecting, live, closed…)
//   <button data-shell-end="ID">    ends the session
//   <div data-shell-replay="ID">    a player for session ID's recorded transcript (.cast)
// Terminals attach only once the page is hydrated, so Leptos never sees foreign children.
(function () {
  "use strict";
  const live = new Map(); // element -> state
  const players = new Map();
  const encoder = new TextEncoder();
  const theme = { background: "#0f172a", foreground: "#e2e8f0", cursor: "#a5b4fc", selectionBackground: "#334155" };

  function setStatus(id, text, kind) {
    document.querySelectorAll('[data-shell-status="' + id + '"]').forEach(function (el) {
      el.textContent = text;
      el.dataset.kind = kind || "";
    });
  }

  function wsUrl(id) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/shell/sessions/" + id + "/ws";
  }

  function makeTerminal(el, opts) {
    const term = new window.Terminal(Object.assign({
      cursorBlink: true, fontSize: 13, scrollback: 5000, convertEol: false,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace', theme: theme,
    }, opts || {}));
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    try { fit.fit(); } catch (_) { /* hidden tab */ }
    return { term: term, fit: fit };
  }

  function attach(el) {
    const id = el.dataset.shellSession;
    const t = makeTerminal(el);
    const st = { id: id, term: t.term, fit: t.fit, ws: null, closed: false, retry: 0, timer: null, observer: null };
    live.set(el, st);
    el.dataset.state = "connecting";
    // Copy and paste with Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays an interrupt).
    st.term.attachCustomKeyEventHandler(function (e) {
      if (e.type === "keydown" && e.ctrlKey && e.shiftKey && (e.key === "C" || e.key === "c")) {
        const sel = st.term.getSelection();
        if (sel && navigator.clipboard) navigator.clipboard.writeText(sel);
        return false;
      }
      if (e.type === "keydown" && e.ctrlKey && e.shiftKey && (e.key === "V" || e.key === "v")) {
        if (navigator.clipboard && navigator.clipboard.readText) {
          navigator.clipboard.readText().then(function (text) { st.term.paste(text); });
        }
        return false;
      }
      return true;
    });
    st.term.onData(function (d) { send(st, encoder.encode(d)); });
    st.term.onBinary(function (d) {
      const b = new Uint8Array(d.length);
      for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff;
      send(st, b);
    });
    st.term.onResize(function (s) { control(st, { type: "resize", cols: s.cols, rows: s.rows }); });
    st.observer = new ResizeObserver(function () {
      if (el.offsetParent !== null) { try { st.fit.fit(); } catch (_) { /* ignore */ } }
    });
    st.observer.observe(el);
    connect(el, st);
  }

  function send(st, bytes) {
    if (st.ws && st.ws.readyState === WebSocket.OPEN && !st.closed) st.ws.send(bytes);
  }

  function control(st, msg) {
    if (st.ws && st.ws.readyState === WebSocket.OPEN && !st.closed) st.ws.send(JSON.stringify(msg));
  }

  function connect(el, st) {
    setStatus(st.id, st.retry ? "reconnecting…" : "connecting…", "wait");
    const ws = new WebSocket(wsUrl(st.id));
    ws.binaryType = "arraybuffer";
    st.ws = ws;
    ws.onopen = function () {
      st.retry = 0;
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") {
        st.term.write(new Uint8Array(ev.data));
        return;
      }
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg.type === "hello") {
        // What follows is the recent output: start from a clean screen so a reattach does
        // not show it twice.
        st.term.reset();
        el.dataset.state = "live";
        el.dataset.expiresAt = msg.expires_at;
        setStatus(st.id, "live · " + Math.round(msg.seconds_left / 60) + " min left", "live");
        try { st.fit.fit(); } catch (_) { /* ignore */ }
        control(st, { type: "resize", cols: st.term.cols, rows: st.term.rows });
        st.term.focus();
      } else if (msg.type === "warning") {
        setStatus(st.id, "closing in " + msg.seconds_left + " s (" + (msg.kind === "idle" ? "idle" : "time limit") + ")", "warn");
        el.dataset.warning = msg.kind;
      } else if (msg.type === "closed") {
        st.closed = true;
        el.dataset.state = "closed";
        el.dataset.reason = msg.reason;
        setStatus(st.id, "closed · " + msg.label, "closed");
      } else if (msg.type === "error") {
        setStatus(st.id, msg.error, "warn");
      }
    };
    ws.onclose = function (ev) {
      if (!live.has(el)) return;
      if (st.closed) return;
      if (ev.code === 1006 || ev.code === 1001 || ev.code === 1005 || ev.code === 1000) {
        // Dropped: reattach while the session runs (the server keeps it for its TTL). A
        // session that ended answers the upgrade with 410, which shows up here as 1006 too,
        // so give up after a few tries.
        st.retry += 1;
        if (st.retry > 8) {
          st.closed = true;
          el.dataset.state = "closed";
          setStatus(st.id, "disconnected · the session has ended or cannot be reached", "closed");
          return;
        }
        el.dataset.state = "reconnecting";
        st.timer = setTimeout(function () { connect(el, st); }, Math.min(500 * st.retry, 4000));
      }
    };
  }

  function detach(el) {
    const st = live.get(el);
    if (!st) return;
    live.delete(el);
    clearTimeout(st.timer);
    if (st.observer) st.observer.disconnect();
    if (st.ws) st.ws.close(1000);
    st.term.dispose();
  }

  // --- the transcript player ------------------------------------------------------------
  function parseCast(text) {
    const lines = text.split("\n").filter(function (l) { return l.trim() !== ""; });
    const header = JSON.parse(lines.shift());
    const events = lines.map(function (l) { return JSON.parse(l); });
    return { header: header, events: events };
  }

  function player(el) {
    const id = el.dataset.shellReplay;
    el.innerHTML = "";
    const bar = document.createElement("div");
    bar.className = "shell-player-bar";
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = "Play";
    play.dataset.testid = "replay-play";
    const speed = document.createElement("select");
    [1, 2, 4, 16].forEach(function (s) {
      const o = document.createElement("option");
      o.value = String(s);
      o.textContent = s + "×";
      speed.appendChild(o);
    });
    speed.setAttribute("aria-label", "Playback speed");
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    const clock = document.createElement("span");
    clock.className = "shell-player-clock";
    bar.append(play, speed, progress, clock);
    const screen = document.createElement("div");
    screen.className = "shell-player-screen";
    el.append(bar, screen);
    const t = makeTerminal(screen, { cursorBlink: false, disableStdin: true });
    const st = { term: t.term, cast: null, i: 0, pos: 0, timer: null, playing: false };
    players.set(el, st);
    el.dataset.state = "loading";
    fetch("/api/shell/sessions/" + id + "/cast", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (text) {
        st.cast = parseCast(text);
        st.term.resize(st.cast.header.width || 80, st.cast.header.height || 24);
        el.dataset.state = "ready";
        el.dataset.events = String(st.cast.events.length);
        const total = st.cast.events.length ? st.cast.events[st.cast.events.length - 1][0] : 0;
        clock.textContent = "0:00 / " + fmt(total);
      })
      .catch(function (e) {
        el.dataset.state = "error";
        clock.textContent = "cannot load the transcript (" + e.message + ")";
      });
    function fmt(s) {
      const m = Math.floor(s / 60), r = Math.floor(s % 60);
      return m + ":" + (r < 10 ? "0" : "") + r;
    }
    function step() {
      const ev = st.cast.events;
      const total = ev.length ? ev[ev.length - 1][0] : 0;
      const rate = Number(speed.value);
      while (st.i < ev.length) {
        const e = ev[st.i];
        if (e[0] > st.pos) break;
        if (e[1] === "o") st.term.write(e[2]);
        else if (e[1] === "r") {
          const m = /^(\d+)x(\d+)$/.exec(e[2]);
          if (m) st.term.resize(Number(m[1]), Number(m[2]));
        }
        st.i += 1;
      }
      progress.value = total ? Math.min(1, st.pos / total) : 1;
      clock.textContent = fmt(st.pos) + " / " + fmt(total);
      if (st.i >= ev.length) {
        st.playing = false;
        play.textContent = "Replay";
        el.dataset.state = "done";
        return;
      }
      // Idle stretches longer than 2 s are shortened, like asciinema's idle limit.
      const wait = Math.min(ev[st.i][0] - st.pos, 2);
      st.timer = setTimeout(function () { st.pos = Math.max(st.pos + wait, 0); if (ev[st.i][0] - st.pos > 2) st.pos = ev[st.i][0]; step(); }, (wait * 1000) / rate);
    }
    play.addEventListener("click", function () {
      if (!st.cast) return;
      if (st.playing) {
        clearTimeout(st.timer);
        st.playing = false;
        play.textContent = "Play";
        return;
      }
      if (st.i >= st.cast.events.length) {
        st.i = 0;
        st.pos = 0;
        st.term.reset();
      }
      st.playing = true;
      play.textContent = "Pause";
      el.dataset.state = "playing";
      step();
    });
  }

  // --- wiring -------------------------------------------------------------------------
  function scan() {
    if (!window.Terminal || document.body.dataset.hydrated !== "true") return;
    document.querySelectorAll("[data-shell-session]").forEach(function (el) { if (!live.has(el)) attach(el); });
    document.querySelectorAll("[data-shell-replay]").forEach(function (el) { if (!players.has(el)) player(el); });
    live.forEach(function (_st, el) { if (!el.isConnected) detach(el); });
    players.forEach(function (st, el) {
      if (!el.isConnected) { clearTimeout(st.timer); st.term.dispose(); players.delete(el); }
    });
  }

  document.addEventListener("click", function (e) {
    const btn = e.target.closest && e.target.closest("[data-shell-end]");
    if (!btn) return;
    live.forEach(function (st) { if (st.id === btn.dataset.shellEnd) control(st, { type: "close" }); });
  });

  let queued = false;
  function scanSoon() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; scan(); });
  }

  function start() {
    new MutationObserver(scanSoon).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-hydrated", "class"] });
    scan();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
