// Sends one archive — or every part of a download the platform split in several — in pieces at
// known offsets; after a failure it asks the server how much it has and continues from there, so a
// dropped connection costs one piece at most. Each file's first piece goes before any file's
// rest: the server checks what it is (and a ZIP's directory, from the file's last bytes sent when
// it is announced), so junk is refused beside the file field before the bulk is sent.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) return;
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  var tailBytes = parseInt(form.dataset.tailBytes, 10) || 0;
  var bar = document.getElementById("import-bar");
  var statusLine = document.getElementById("import-status");
  var box = document.getElementById("import-progress");
  var input = form.querySelector("[name=file]");
  var field = document.getElementById("import-file-field");
  var errors = document.getElementById("import-file-error");

  function say(text) { statusLine.textContent = text; }
  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // A refusal is about the files: it is shown at the file field, and nothing is retried.
  function Refused(message) { this.message = message; }

  function refuse(message) {
    errors.textContent = "";
    var item = document.createElement("li");
    item.textContent = message;
    errors.appendChild(item);
    errors.hidden = false;
    field.classList.add("field-error");
    input.setAttribute("aria-invalid", "true");
  }

  function clearRefusal() {
    errors.textContent = "";
    errors.hidden = true;
    field.classList.remove("field-error");
    input.removeAttribute("aria-invalid");
  }

  async function call(method, url, body, type) {
    var headers = {"X-CSRFToken": csrf};
    if (type) headers["Content-Type"] = type;
    var response = await fetch(url, {method: method, body: body, headers: headers, credentials: "same-origin"});
    var data = await response.json().catch(function () { return {}; });
    return {ok: response.ok, status: response.status, data: data};
  }

  function uploadUrl(part) { return form.dataset.startUrl + "/" + part.upload.id; }

  async function announce(file) {
    var body = new FormData();
    body.append("platform", form.querySelector("[name=platform]").value);
    body.append("filename", file.name);
    body.append("size", String(file.size));
    if (tailBytes) body.append("tail", file.slice(Math.max(0, file.size - tailBytes)), "tail");
    var start = await call("POST", form.dataset.startUrl, body);
    if (!start.ok) throw new Refused(start.data.error || "The upload was refused.");
    return {file: file, upload: start.data, received: start.data.received};
  }

  // Sends `part` up to byte `until`, resuming after failures; updates the bar over all parts.
  async function send(part, until, parts, total) {
    var url = uploadUrl(part);
    var failures = 0;
    while (part.received < until) {
      var end = Math.min(part.received + part.upload.chunk_size, part.file.size);
      var piece = part.file.slice(part.received, end);
      var result;
      try {
        result = await call("PUT", url + "?offset=" + part.received, piece, "application/octet-stream");
      } catch (error) {
        result = {ok: false, status: 0, data: {}};
      }
      if (result.data.removed || result.status === 413 || result.status === 415 || result.status === 422) {
        throw new Refused(result.data.error || "The file was refused.");
      }
      if (result.ok || result.status === 409) {
        if (typeof result.data.received === "number") part.received = result.data.received;
        failures = result.ok ? 0 : failures;
      } else {
        failures += 1;
        if (failures > 8) throw new Error(result.data.error || "The upload keeps failing; try again later.");
        say("Connection trouble; resuming in a moment…");
        await sleep(Math.min(1000 * Math.pow(2, failures), 30000));
        var status = await call("GET", url).catch(function () { return {ok: false, data: {}}; });
        if (status.ok) part.received = status.data.received;
        continue;
      }
      var done = parts.reduce(function (sum, p) { return sum + p.received; }, 0);
      bar.value = Math.floor((100 * done) / total);
      say("Uploaded " + mb(done) + " of " + mb(total) + (parts.length > 1 ? " (" + parts.length + " files)" : ""));
    }
  }

  function discard(parts) {
    parts.forEach(function (part) {
      call("DELETE", uploadUrl(part)).catch(function () {});
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearRefusal();
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) { refuse("Choose a file first."); return; }
    // Parts in their own order: `-001.zip` first, which holds the data files.
    files.sort(function (a, b) { return a.name.localeCompare(b.name, undefined, {numeric: true}); });
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    box.hidden = false;
    bar.value = 0;
    form.querySelector("button").disabled = true;
    var parts = [];
    try {
      say(files.length > 1 ? "Checking the " + files.length + " files…" : "Checking the file…");
      for (var i = 0; i < files.length; i++) {
        var part = await announce(files[i]);
        parts.push(part);
        await send(part, Math.min(part.upload.chunk_size, part.file.size), parts, total);
      }
      for (var j = 0; j < parts.length; j++) await send(parts[j], parts[j].file.size, parts, total);
      say("Uploaded. Checking the archive and starting the import…");
      var choice = {
        parts: parts.slice(1).map(function (p) { return p.upload.id; }),
        skip_sensitive: !!form.querySelector("[name=skip_sensitive]:checked"),
      };
      var done = await call("POST", uploadUrl(parts[0]) + "/finish", JSON.stringify(choice), "application/json");
      if (!done.ok) {
        if (done.status === 422 || done.status === 410) throw new Refused(done.data.error);
        throw new Error(done.data.error || "The import could not start.");
      }
      window.location.assign(done.data.job_url);
    } catch (error) {
      // The server removed a refused file; the others of this attempt go too (a new attempt
      // sends them again), so they do not count against the open uploads one may have.
      discard(parts);
      if (error instanceof Refused) {
        refuse(error.message);
        say("Nothing was imported.");
        bar.value = 0;
      } else {
        say(error.message);
      }
      form.querySelector("button").disabled = false;
    }
  });
})();
