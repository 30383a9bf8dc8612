// photos.js: what the album pages add when JavaScript runs. Uploads with a
// progress bar per file and overall, endless scrolling of the grid, arrow
// keys and swipes in the photo view, confirmations before deleting, and
// copying an invite link.
// Every page works without it.
"use strict";

(function () {
  // Uploads: two files at a time, each with its own bar and message.
  const section = document.getElementById("upload");
  if (section) {
    const url = section.dataset.url;
    const input = document.getElementById("files");
    const queueList = document.getElementById("queue");
    const overall = document.getElementById("overall");
    const overallBar = document.getElementById("overall-bar");
    const overallText = document.getElementById("overall-text");
    const grid = document.getElementById("grid");
    let jobs = [];
    let running = 0;

    function updateOverall() {
      const total = jobs.reduce((n, j) => n + j.file.size, 0);
      const sent = jobs.reduce((n, j) => n + j.sent, 0);
      const finished = jobs.filter((j) => j.done).length;
      overall.hidden = false;
      overallBar.max = Math.max(total, 1);
      overallBar.value = sent;
      overallText.textContent = finished + " of " + jobs.length + " done";
      if (finished === jobs.length) {
        overall.dataset.state = "done";
      } else {
        delete overall.dataset.state;
      }
    }

    function addTile(reply) {
      const empty = document.getElementById("empty");
      if (empty) empty.remove();
      const a = document.createElement("a");
      a.className = "tile" + (reply.kind === "video" ? " video" : "");
      a.href = reply.page;
      if (reply.kind === "video" && !reply.thumb) {
        const span = document.createElement("span");
        span.textContent = "\u25B6 video";
        a.appendChild(span);
      } else {
        const img = document.createElement("img");
        img.src = reply.thumb;
        img.alt = "";
        a.appendChild(img);
        if (reply.kind === "video") {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = "\u25B6" + (reply.duration ? " " + reply.duration : "");
          a.appendChild(badge);
        }
      }
      grid.appendChild(a);
    }

    // Each file goes to porch's resumable-upload endpoint (tus 1.0) in
    // parts, then the album takes it. A dropped connection resumes where
    // porch says it stands; choosing the same file again after a reload
    // goes on from there (its upload's address is kept in localStorage);
    // a proxy that refuses large bodies (413) gets smaller parts.
    const TUS = "/.porch/uploads";
    const MIN_PART = 64 * 1024;
    let partSize = 32 * 1024 * 1024;
    const RETRIES = [1, 2, 4, 8, 15, 30, 30, 30, 30, 30, 60, 60];

    function call(method, target, headers, body, onprogress) {
      return new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open(method, target);
        xhr.setRequestHeader("Tus-Resumable", "1.0.0");
        for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
        if (onprogress) xhr.upload.onprogress = onprogress;
        xhr.onload = () => resolve(xhr);
        xhr.onerror = () => resolve(null);
        xhr.ontimeout = () => resolve(null);
        xhr.send(body === undefined ? null : body);
      });
    }

    const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
    const keyOf = (file) =>
      "porch-upload " + url + " " + file.name + " " + file.size + " " + file.lastModified;
    const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

    // Where this file's upload stands: [address, offset], or null to start
    // a new one.
    async function resumable(job) {
      const address = localStorage.getItem(keyOf(job.file));
      if (!address) return null;
      const r = await call("HEAD", address, {});
      if (r && r.status === 200 && Number(r.getResponseHeader("Upload-Length")) === job.file.size) {
        const offset = Number(r.getResponseHeader("Upload-Offset"));
        if (offset > 0) job.row.dataset.resumedFrom = String(offset);
        return [address, offset];
      }
      localStorage.removeItem(keyOf(job.file));
      return null;
    }

    // Sends the file's bytes; resolves to the upload's id, or throws a
    // sentence to show.
    async function sendParts(job) {
      const file = job.file;
      let found = await resumable(job);
      if (!found) {
        const r = await call("POST", TUS, {
          "Upload-Length": String(file.size),
          "Upload-Metadata": "filename " + b64(file.name),
        });
        if (!r) throw "The connection broke. Try this file again.";
        if (r.status !== 201) throw r.responseText || "Upload failed (" + r.status + "). Try again.";
        found = [r.getResponseHeader("Location"), 0];
        localStorage.setItem(keyOf(file), found[0]);
      }
      let [address, offset] = found;
      let failures = 0;
      while (offset < file.size) {
        const end = Math.min(offset + partSize, file.size);
        const from = offset;
        const r = await call(
          "PATCH",
          address,
          { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
          file.slice(offset, end),
          (e) => {
            job.sent = from + e.loaded;
            job.bar.value = job.sent;
            updateOverall();
          },
        );
        if (r && r.status === 204) {
          offset = Number(r.getResponseHeader("Upload-Offset"));
          failures = 0;
          job.note.textContent = "Sending";
          continue;
        }
        if (r && r.status === 413 && partSize > MIN_PART) {
          // Something between here and porch refuses bodies this large.
          partSize = Math.max(MIN_PART, Math.floor(partSize / 4));
          job.row.dataset.part = String(partSize);
          continue;
        }
        if (r && r.status === 429) {
          // porch's upload rate for this device: wait as long as it says.
          job.note.textContent = "Waiting for the server";
          await sleep(Math.min(60, Number(r.getResponseHeader("Retry-After")) || 1));
          continue;
        }
        if (r && r.status === 404) {
          localStorage.removeItem(keyOf(file));
          throw r.responseText || "The upload was lost. Try this file again.";
        }
        if (r && [412, 413, 415, 507].includes(r.status)) {
          throw r.responseText || "Upload failed (" + r.status + ").";
        }
        // The connection broke, or porch is busy: wait, ask where it
        // stands, and go on from there.
        if (failures >= RETRIES.length) throw "The connection keeps breaking. Choose this file again later to go on.";
        job.note.textContent = "Connection lost; trying again";
        await sleep(RETRIES[failures++]);
        const h = await call("HEAD", address, {});
        if (h && h.status === 200) offset = Number(h.getResponseHeader("Upload-Offset"));
        else if (h && h.status === 404) {
          localStorage.removeItem(keyOf(file));
          throw h.responseText || "The upload was lost. Try this file again.";
        }
      }
      return address.split("/").pop();
    }

    async function start(job) {
      running++;
      const finish = (ok, message) => {
        job.done = true;
        job.sent = job.file.size;
        job.bar.value = job.bar.max;
        job.row.dataset.state = ok ? "done" : "failed";
        job.note.textContent = message;
        running--;
        updateOverall();
        next();
      };
      job.note.textContent = "Sending";
      let id;
      try {
        id = await sendParts(job);
      } catch (message) {
        finish(false, String(message));
        return;
      }
      job.note.textContent = "Adding";
      const target = url + "?name=" + encodeURIComponent(job.file.name) + "&upload=" + encodeURIComponent(id);
      const xhr = await call("POST", target, { Accept: "application/json" });
      localStorage.removeItem(keyOf(job.file));
      let reply = null;
      try {
        reply = xhr ? JSON.parse(xhr.responseText) : null;
      } catch (_) {
        reply = null;
      }
      if (reply && reply.ok) {
        if (reply.duplicate) {
          finish(true, reply.message);
        } else {
          addTile(reply);
          finish(true, "Added");
        }
      } else if (reply && reply.error) {
        finish(false, reply.error);
      } else if (!xhr) {
        finish(false, "The connection broke. Reload the album to see whether the file was added.");
      } else {
        finish(false, "Upload failed (" + xhr.status + "). Try again.");
      }
    }

    function next() {
      while (running < 2) {
        const job = jobs.find((j) => !j.started);
        if (!job) return;
        job.started = true;
        start(job);
      }
    }

    function add(files) {
      for (const file of files) {
        const row = document.createElement("li");
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = file.name;
        const bar = document.createElement("progress");
        bar.max = Math.max(file.size, 1);
        bar.value = 0;
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = "Waiting";
        row.append(name, bar, note);
        queueList.appendChild(row);
        jobs.push({ file, row, bar, note, sent: 0, started: false, done: false });
      }
      updateOverall();
      next();
    }

    input.addEventListener("change", () => {
      add(input.files);
      input.value = "";
    });
    section.addEventListener("dragover", (e) => {
      e.preventDefault();
      section.classList.add("over");
    });
    section.addEventListener("dragleave", () => section.classList.remove("over"));
    section.addEventListener("drop", (e) => {
      e.preventDefault();
      section.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files) add(e.dataTransfer.files);
    });
  }

  // Endless grid: fetch the next page when "More photos" comes into view.
  const grid = document.getElementById("grid");
  function watchMore() {
    const more = document.getElementById("more");
    if (!more || !grid || !("IntersectionObserver" in window)) return;
    const seen = new IntersectionObserver(async (entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      seen.disconnect();
      const response = await fetch(more.dataset.grid, { credentials: "same-origin" });
      if (!response.ok) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      more.parentElement.remove();
      for (const child of Array.from(holder.children)) {
        if (child.classList.contains("tile")) grid.appendChild(child);
        else grid.after(child);
      }
      watchMore();
    }, { rootMargin: "800px" });
    seen.observe(more);
  }
  watchMore();

  // Photo view: arrow keys and swipes step through the album.
  const stage = document.getElementById("stage");
  if (stage) {
    const go = (rel) => {
      const link = document.getElementById(rel);
      if (link) window.location.href = link.href;
    };
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("textarea, input")) return;
      if (e.key === "ArrowLeft") go("prev");
      if (e.key === "ArrowRight") go("next");
      if (e.key === "Escape") go("back");
    });
    let x0 = null;
    let y0 = null;
    stage.addEventListener("touchstart", (e) => {
      x0 = e.touches[0].clientX;
      y0 = e.touches[0].clientY;
    }, { passive: true });
    stage.addEventListener("touchend", (e) => {
      if (x0 === null) return;
      const dx = e.changedTouches[0].clientX - x0;
      const dy = e.changedTouches[0].clientY - y0;
      x0 = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) go(dx < 0 ? "next" : "prev");
    }, { passive: true });
  }

  // A video this browser cannot play (HEVC in Chromium or Firefox without
  // hardware support) says so instead of showing a black box.
  const player = document.querySelector("video#photo");
  const cannot = document.getElementById("cannot-play");
  if (player && cannot) {
    const hevc = 'video/mp4; codecs="hvc1.1.6.L93.B0"';
    if (player.dataset.codec === "hevc" && !player.canPlayType(hevc) && !document.getElementById("preparing")) {
      cannot.hidden = false;
    }
    player.addEventListener("error", () => { cannot.hidden = false; });
  }

  // A motion photo moves while it is pressed (phones) or pointed at.
  const motion = document.getElementById("motion");
  const still = document.querySelector("img#photo");
  if (motion && still) {
    const show = () => {
      motion.hidden = false;
      still.hidden = true;
      motion.currentTime = 0;
      motion.play().catch(() => {});
    };
    const hide = () => {
      motion.pause();
      motion.hidden = true;
      still.hidden = false;
    };
    const stage = document.getElementById("stage");
    stage.addEventListener("pointerdown", show);
    stage.addEventListener("mouseenter", show);
    for (const end of ["pointerup", "pointercancel", "mouseleave"]) stage.addEventListener(end, hide);
    stage.addEventListener("contextmenu", (e) => e.preventDefault());
    document.getElementById("play-motion").addEventListener("click", (e) => {
      e.preventDefault();
      if (motion.hidden) show();
      else hide();
    });
  }

  // Forms that destroy something ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }

  // Copy buttons (the invite link): the text of the field they name.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", () => {
      const field = document.getElementById(button.dataset.copy);
      field.select();
      const done = () => { button.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy"));
      else if (document.execCommand("copy")) done();
    });
  }
})();
