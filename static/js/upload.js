// Sends an archive in pieces at known offsets; after a failure it asks the server how much it
// has and continues from there, so a dropped connection costs one piece at most.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) return;
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  var bar = document.getElementById("import-bar");
  var statusLine = document.getElementById("import-status");
  var box = document.getElementById("import-progress");

  function say(text) { statusLine.textContent = text; }
  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  async function call(method, url, body, type) {
    var headers = {"X-CSRFToken": csrf};
    if (type) headers["Content-Type"] = type;
    var response = await fetch(url, {method: method, body: body, headers: headers, credentials: "same-origin"});
    var data = await response.json().catch(function () { return {}; });
    return {ok: response.ok, status: response.status, data: data};
  }

  async function send(file, upload) {
    var url = form.dataset.startUrl + "/" + upload.id;
    var received = upload.received;
    var failures = 0;
    while (received < file.size) {
      var piece = file.slice(received, Math.min(received + upload.chunk_size, file.size));
      var result;
      try {
        result = await call("PUT", url + "?offset=" + received, piece, "application/octet-stream");
      } catch (error) {
        result = {ok: false, status: 0, data: {}};
      }
      if (result.ok || result.status === 409) {
        if (typeof result.data.received === "number") received = result.data.received;
        failures = result.ok ? 0 : failures;
      } else {
        failures += 1;
        if (failures > 8) throw new Error(result.data.error || "The upload keeps failing; try again later.");
        say("Connection trouble; resuming in a moment…");
        await sleep(Math.min(1000 * Math.pow(2, failures), 30000));
        var status = await call("GET", url).catch(function () { return {ok: false, data: {}}; });
        if (status.ok) received = status.data.received;
        continue;
      }
      bar.value = Math.floor((100 * received) / file.size);
      say("Uploaded " + mb(received) + " of " + mb(file.size));
    }
    var skip = form.querySelector("[name=skip_sensitive]");
    var done = await call("POST", url + "/finish", JSON.stringify({skip_sensitive: !!(skip && skip.checked)}), "application/json");
    if (!done.ok) throw new Error(done.data.error || "The import could not start.");
    say("Uploaded. Starting the import…");
    window.location.assign(done.data.job_url);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var file = form.querySelector("[name=file]").files[0];
    if (!file) { say("Choose a file first."); box.hidden = false; return; }
    box.hidden = false;
    form.querySelector("button").disabled = true;
    try {
      var body = JSON.stringify({platform: form.querySelector("[name=platform]").value, filename: file.name, size: file.size});
      var start = await call("POST", form.dataset.startUrl, body, "application/json");
      if (!start.ok) throw new Error(start.data.error || "The upload was refused.");
      await send(file, start.data);
    } catch (error) {
      say(error.message);
      form.querySelector("button").disabled = false;
    }
  });
})();
