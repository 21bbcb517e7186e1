/* hitcount.js: counts a view of the page (data-id, default host + path) at the API it came from, fills
   [data-hitcount-count="<id>"] (data-window: 1h, "1 hour ago", total) with the window's count, or with
   data-hitcount-metric="visitors" its distinct visitors, gives hitcount.track(id). No cookies.
   Without data-id, a single-page app's navigation to another path (or, with data-hash, hash) is a view.
   With data-respect-dnt, a browser that asks not to be tracked sends no hit.
   The API serves it without its comment lines and indentation (blueprints/script.py). */
(() => {
  "use strict";
  const script = document.currentScript;
  const api = new URL(script.src).origin;
  const windows = HITCOUNT_WINDOWS; // short names of the windows, in the order of counts (from the API)
  const warn = (what, error) => console.warn(`hitcount: ${what}: ${error.message}`);
  const has = (name) => script.hasAttribute(`data-${name}`);
  // The browser sends DNT: 1 or Sec-GPC: 1 and the page respects it: no hit at all, counters as usual.
  const quiet = has("respect-dnt") && (navigator.doNotTrack === "1" || navigator.globalPrivacyControl === true);

  // 128 random bits per hit (a UUID in 32 digits): the API counts a hit sent again with its uid once.
  const uid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => (x + 256).toString(16).slice(1)).join("");

  // Errors say what to change. A browser hides a CORS refusal: it fails as if the API were down.
  const call = (path, init) =>
    fetch(api + path, { credentials: "omit", ...init }).then(
      async (answer) => {
        if (answer.ok) return answer;
        const { message } = await answer.json().catch(() => ({}));
        throw Object.assign(new Error(`HTTP ${answer.status}: ${message}`), { answer });
      },
      () => {
        throw new Error(`no answer: the API is down or refuses ${location.origin}: see HITCOUNT_CORS_ORIGINS (with *, reads of HITCOUNT_PUBLIC_IDS only)`);
      },
    );

  // fetch with keepalive outlives the page as a beacon does, and tells a hit refused. A lost
  // answer, a 429 or a 5xx is sent again, same uid, up to 3 times in all.
  const post = (body, tries = 3) =>
    call("/analytics", { method: "POST", body, keepalive: true }).catch(async (error) => {
      const { answer } = error;
      if (tries < 2 || (answer?.status < 500 && answer.status !== 429)) throw error;
      await new Promise((done) => setTimeout(done, (answer?.headers.get("Retry-After") || 1) * 1000));
      return post(body, tries - 1);
    });
  // true once the API took the hit, else false (and a warning, unless quiet sent nothing).
  const track = async (id) =>
    !quiet && post(JSON.stringify({ id: String(id), uid: uid() })).then(() => true, (error) => (warn(`hit of ${id}`, error), false));

  // The windows' counts, then every hit ever counted as a window "total" (count undefined where not kept).
  const read = (id) => call(`/analytics/${encodeURIComponent(id)}`).then((a) => a.json()).then((b) => [...b.counts, { reference: "total", count: b.total }]);

  // One read per id not in reads, however many elements show it.
  const fill = (reads = new Map()) => {
    for (const element of document.querySelectorAll("[data-hitcount-count]")) {
      const id = element.dataset.hitcountCount;
      const name = element.dataset.window;
      if (!reads.has(id)) reads.set(id, read(id));
      reads.get(id).then((counts) => {
        const found = name ? counts[windows.indexOf(name)] || counts.find((count) => count.reference === name) : counts[0];
        if (!found) throw new Error(`no window "${name}": use one of ${windows},total`);
        // Visitors (and the total) are missing (undefined, NaN as a number) where the store does not count them.
        const value = found[element.dataset.hitcountMetric || "count"];
        if (isNaN(value)) throw new Error("not counted by this store: count, or visitors where it counts them");
        element.textContent = value;
        element.removeAttribute("data-hitcount-error");
      }).catch((error) => (element.setAttribute("data-hitcount-error", error.message), warn(`count of ${id}`, error)));
    }
  };

  // A view shows in its page's counters of its id once: its counts, read before its hit is sent,
  // cannot hold it, and show plus one once the API took it (a read after would miss it until
  // indexed, seconds later). A prerendered page is counted once shown.
  let shown, own; // the id of the last view, and its counts as its counters show them
  const view = (id) => {
    const before = document.querySelector(`[data-hitcount-count="${CSS.escape(id)}"]`) ? [read(id)] : [];
    const taken = Promise.allSettled(before)
      .then(() => document.prerendering && new Promise((on) => document.addEventListener("prerenderingchange", on)))
      .then(() => track(id));
    // Visitors stay as read: the view's visitor may be counted already.
    const plus = async (counts) => ((await taken) ? counts.map((c) => ({ ...c, count: c.count + 1 })) : counts);
    own = new Map(before.map((counts) => [id, counts.then(plus)]));
    fill(new Map(own));
  };
  const here = () => script.getAttribute("data-id") || location.host + location.pathname + (has("hash") ? location.hash : "");
  // A navigation to another id is a view (with data-id there is none). It is looked at once the
  // page's task is done: a redirect by replaceState right after pushState is one view, and the
  // counters the page put in place are there to fill, again after any navigation.
  const navigated = () => setTimeout(() => (here() === shown ? fill(new Map(own)) : view((shown = here()))));
  const start = () => {
    view((shown = here()));
    for (const name of ["pushState", "replaceState"]) {
      const change = history[name];
      history[name] = function (...args) {
        change.apply(this, args);
        navigated();
      };
    }
    addEventListener("popstate", navigated);
    addEventListener("hashchange", navigated);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.hitcount = { track, refresh: () => fill() };
})();
