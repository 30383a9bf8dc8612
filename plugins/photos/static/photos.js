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

    function start(job) {
      running++;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url + "?name=" + encodeURIComponent(job.file.name));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        job.sent = e.loaded;
        job.bar.max = Math.max(e.total || job.file.size, 1);
        job.bar.value = e.loaded;
        updateOverall();
      };
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
      xhr.onload = () => {
        let reply = null;
        try {
          reply = JSON.parse(xhr.responseText);
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
        } else if (xhr.status === 413) {
          finish(false, "This file is larger than the album accepts.");
        } else {
          finish(false, "Upload failed (" + xhr.status + "). Try again.");
        }
      };
      xhr.onerror = () => finish(false, "The connection broke. Try this file again.");
      xhr.setRequestHeader("content-type", job.file.type || "application/octet-stream");
      xhr.send(job.file);
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
    if (player.dataset.codec === "hevc" && !player.canPlayType(hevc)) cannot.hidden = false;
    player.addEventListener("error", () => { cannot.hidden = false; });
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
