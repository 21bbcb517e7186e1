/* hitcount.js (the API's /hitcount.js; no dependencies, no cookies): counts a view of the page
   (data-id, default host + path) at the API it came from, fills [data-hitcount-count="<id>"]
   (data-window: default the longest) and gives window.hitcount.track(id). */
(() => {
  "use strict";
  const script = document.currentScript;
  const api = new URL(script.src).origin;
  const warn = (what, error) => console.warn(`hitcount: ${what}: ${error.message}`);

  // A random (version 4) UUID per hit: the API counts a hit sent again with its uid once.
  const uid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const pause = (seconds) => new Promise((done) => setTimeout(done, seconds * 1000));

  // fetch's way, when the browser has no beacon or refuses one: a lost answer, a 429 or a
  // 5xx is sent again, with the same uid, up to 3 times in all.
  const post = async (body, tries = 3) => {
    let answer;
    try {
      answer = await fetch(`${api}/analytics`, {
        method: "POST",
        body,
        headers: { "Content-Type": "text/plain" },
        keepalive: true,
        credentials: "omit",
      });
    } catch (error) {
      if (tries < 2) throw error;
    }
    if (answer?.ok) return true;
    if (answer && (tries < 2 || (answer.status !== 429 && answer.status < 500))) {
      throw new Error(`HTTP ${answer.status}`);
    }
    await pause(Number(answer?.headers.get("Retry-After")) || 1);
    return post(body, tries - 1);
  };

  // A beacon (text/plain: no CORS preflight) outlives the page, so a hit sent as a link is
  // followed is not lost. Resolves true once the browser has taken the hit, false on failure.
  const track = (id) => {
    const body = JSON.stringify({ id: String(id), uid: uid() });
    if (navigator.sendBeacon && navigator.sendBeacon(`${api}/analytics`, body)) return Promise.resolve(true);
    return post(body).catch((error) => (warn(`hit of ${id}`, error), false));
  };

  // One read per id, however many elements show it; a failure is marked on each element.
  const fill = () => {
    const reads = new Map();
    for (const element of document.querySelectorAll("[data-hitcount-count]")) {
      const id = element.getAttribute("data-hitcount-count");
      if (!reads.has(id)) {
        reads.set(
          id,
          fetch(`${api}/analytics/${encodeURIComponent(id)}`, { credentials: "omit" }).then((answer) =>
            answer.ok ? answer.json() : Promise.reject(new Error(`HTTP ${answer.status}`)),
          ),
        );
      }
      const reference = element.getAttribute("data-window");
      reads
        .get(id)
        .then(({ counts }) => {
          const found = reference ? counts.find((count) => count.reference === reference) : counts[0];
          if (!found) throw new Error(`no window "${reference}"`);
          element.textContent = found.count;
          element.removeAttribute("data-hitcount-error");
        })
        .catch((error) => {
          element.setAttribute("data-hitcount-error", error.message);
          warn(`count of ${id}`, error);
        });
    }
  };

  // A page the browser prerenders is counted only if it is shown.
  const view = () => track(script.getAttribute("data-id") || location.host + location.pathname);
  if (document.prerendering) document.addEventListener("prerenderingchange", view, { once: true });
  else view();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fill);
  else fill();
  window.hitcount = { track, refresh: fill };
})();
