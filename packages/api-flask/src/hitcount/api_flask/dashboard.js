/* The dashboard (GET /): the ids with the most hits in a window, and an id's windows, total, visitors
   and hits per hour. It reads the API it came from, nothing else. A read token typed in is kept in
   this tab alone (sessionStorage); the query, not the token, is kept in the address. */
(() => {
  "use strict";
  const form = document.getElementById("query");
  const status = document.getElementById("status");
  const SVG = "http://www.w3.org/2000/svg";
  const TOKEN = "hitcount-token";
  let chosen = null;

  const headers = () => {
    const token = form.token.value.trim();
    return token ? { Authorization: `Bearer ${token}` } : {};
  };

  // The JSON of a read, or an error saying what the API said.
  const read = async (path) => {
    const answer = await fetch(path, { headers: headers(), cache: "no-store" });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(`${path.split("?")[0]}: HTTP ${answer.status}: ${body.message || answer.statusText}`);
    return body;
  };

  const cell = (row, text) => {
    const td = row.insertCell();
    td.textContent = text;
    return td;
  };

  const rank = async () => {
    const query = new URLSearchParams({ window: form.window.value, limit: form.limit.value, prefix: form.prefix.value });
    const ranking = await read(`/analytics?${query}`);
    const body = document.querySelector("#ranking tbody");
    body.replaceChildren();
    ranking.ids.forEach(({ id, count }, index) => {
      const row = body.insertRow();
      row.dataset.id = id;
      row.classList.toggle("chosen", id === chosen);
      cell(row, index + 1);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = id;
      button.addEventListener("click", () => choose(id));
      row.insertCell().append(button);
      cell(row, count.toLocaleString());
    });
    if (!ranking.ids.length) cell(body.insertRow(), "No hits here yet.").colSpan = 3;
  };

  const chart = (hours) => {
    const svg = document.getElementById("chart");
    const most = Math.max(1, ...hours.map((hour) => hour.count));
    const width = 720 / hours.length;
    svg.replaceChildren();
    hours.forEach(({ start, count }, index) => {
      const bar = document.createElementNS(SVG, "rect");
      const height = (count / most) * 150;
      Object.entries({ x: index * width + 1, y: 160 - height, width: width - 2, height }).forEach(([name, value]) =>
        bar.setAttribute(name, value),
      );
      bar.dataset.start = start;
      bar.dataset.count = count;
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${start.slice(0, 13).replace("T", " ")}h UTC: ${count} hits`;
      bar.append(title);
      svg.append(bar);
    });
    const range = document.getElementById("chart-range");
    range.replaceChildren(...[hours[0], hours[hours.length - 1]].map(({ start }) => {
      const span = document.createElement("span");
      span.textContent = start.slice(0, 13).replace("T", " ") + "h";
      return span;
    }));
  };

  const detail = async (id) => {
    const path = encodeURIComponent(id);
    // A store of a third party may not count hits per hour (501): the windows show all the same.
    const [counts, hours] = await Promise.all([read(`/analytics/${path}`), read(`/hours/${path}`).catch((error) => error)]);
    document.getElementById("detail-id").textContent = id;
    const body = document.querySelector("#windows tbody");
    body.replaceChildren();
    for (const { reference, count, visitors } of counts.counts) {
      const row = body.insertRow();
      [reference, count.toLocaleString(), visitors === undefined ? "–" : visitors.toLocaleString()].forEach((text) =>
        cell(row, text),
      );
    }
    if (counts.total !== undefined) {
      const row = body.insertRow();
      ["all time", counts.total.toLocaleString(), "–"].forEach((text) => cell(row, text));
    }
    document.getElementById("chart").style.display = hours instanceof Error ? "none" : "";
    if (hours instanceof Error) document.getElementById("chart-range").textContent = hours.message;
    else chart(hours.hours);
    document.getElementById("detail").hidden = false;
  };

  const remember = () => {
    const query = new URLSearchParams({ window: form.window.value, limit: form.limit.value });
    if (form.prefix.value) query.set("prefix", form.prefix.value);
    if (chosen !== null) query.set("id", chosen);
    history.replaceState(null, "", `?${query}`);
    sessionStorage.setItem(TOKEN, form.token.value);
  };

  const show = async () => {
    remember();
    status.textContent = "";
    try {
      await Promise.all([rank(), chosen === null ? null : detail(chosen)]);
    } catch (error) {
      status.textContent = error.message;
    }
  };

  const choose = (id) => {
    chosen = id;
    form.lookup.value = id;
    document.querySelectorAll("#ranking tr").forEach((row) => row.classList.toggle("chosen", row.dataset.id === id));
    show();
  };

  const query = new URLSearchParams(location.search);
  for (const name of ["window", "limit", "prefix"]) if (query.has(name)) form[name].value = query.get(name);
  chosen = query.get("id");
  form.lookup.value = chosen || "";
  form.token.value = sessionStorage.getItem(TOKEN) || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.lookup.value) choose(form.lookup.value);
    else show();
  });
  form.window.addEventListener("change", show);
  form.limit.addEventListener("change", show);
  show();
  setInterval(() => document.hidden || show(), 30_000);
})();
