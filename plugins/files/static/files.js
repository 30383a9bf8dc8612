// Files: sends each chosen file as its own upload, with a progress bar,
// then reloads the folder; copies an invite link. Every page works
// without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", () => {
      const field = document.getElementById(button.dataset.copy);
      field.select();
      const done = () => { button.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy"));
      else if (document.execCommand("copy")) done();
    });
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const list = document.getElementById("progress");
  const max = Number(form.dataset.max);

  const send = (file) => new Promise((done) => {
    const row = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = file.name + " ";
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const note = document.createElement("span");
    row.append(label, bar, note);
    list.append(row);
    if (file.size > max) {
      note.textContent = " too large for this folder";
      row.className = "error";
      done(false);
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.action + "?name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 200 && answer.ok) {
        bar.value = 1;
        note.textContent = " added";
        done(true);
      } else {
        note.textContent = " " + (answer.error || "could not be added (" + xhr.status + ")");
        row.className = "error";
        done(false);
      }
    };
    xhr.onerror = () => {
      note.textContent = " the connection broke; try again";
      row.className = "error";
      done(false);
    };
    xhr.send(file);
  });

  input.addEventListener("change", async () => {
    const files = Array.from(input.files);
    input.disabled = true;
    let added = 0;
    for (const file of files) {
      if (await send(file)) added += 1;
    }
    input.value = "";
    input.disabled = false;
    if (added === files.length) location.reload();
  });
});
