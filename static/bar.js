// bar.js: the porch bar on every app page. porch appends this script to
// each HTML page an app answers, so no app has to copy it: a thin strip at
// the top with the way home (porch's start page) and to the account page,
// where people sign out. It lives in a shadow root with its own stylesheet,
// so the app's styles and porch's never touch.
"use strict";
(function () {
  if (window.top !== window.self || document.getElementById("porch-bar") || !document.body) return;
  // The app lives at <app>.<porch's address>; porch is the rest.
  const apex = location.host.split(".").slice(1).join(".");
  if (!apex) return;
  const home = location.protocol + "//" + apex + "/";
  const bar = document.createElement("div");
  bar.id = "porch-bar";
  const root = bar.attachShadow({ mode: "open" });
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = "/.porch/static/bar.css";
  const nav = document.createElement("nav");
  nav.setAttribute("aria-label", "porch");
  const link = (href, text, cls) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.className = cls;
    nav.appendChild(a);
  };
  link(home, "\u2302 Home", "home");
  link(home + "account", "Account and sign out", "account");
  root.append(style, nav);
  document.body.prepend(bar);
})();
