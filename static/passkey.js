// porch's passkeys (WebAuthn) on its own pages: sign in (a button, and the
// name field's autofill where the browser offers it), join, sign in again
// through a recovery link, and add one on the account page. Each ceremony
// is two posts: `begin` hands back porch's challenge, `finish` sends the
// browser's answer. Without WebAuthn the passkey parts stay hidden and the
// password forms work as before.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decode(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  const withIds = (list) => list && list.map((c) => Object.assign({}, c, { id: decode(c.id) }));

  function creationOptions(options) {
    const o = Object.assign({}, options.publicKey);
    o.challenge = decode(o.challenge);
    o.user = Object.assign({}, o.user, { id: decode(o.user.id) });
    if (o.excludeCredentials) o.excludeCredentials = withIds(o.excludeCredentials);
    return o;
  }

  function requestOptions(options) {
    const o = Object.assign({}, options.publicKey);
    o.challenge = decode(o.challenge);
    if (o.allowCredentials) o.allowCredentials = withIds(o.allowCredentials);
    return o;
  }

  // The answer as webauthn-rs reads it: binary fields in base64url.
  function answer(credential) {
    const r = credential.response;
    const out = {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      out.response.userHandle = r.userHandle ? encode(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  async function post(url, fields) {
    const response = await fetch(url, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(fields),
      credentials: "same-origin",
    });
    let body = {};
    try {
      body = await response.json();
    } catch (e) {
      body = {};
    }
    if (!response.ok) throw new Error(body.error || "porch answered " + response.status + ". Try again.");
    return body;
  }

  // What a failure looks like to the person: the browser's own "cancelled"
  // (NotAllowedError) is said plainly; porch's refusals are shown as sent.
  function say(place, error) {
    const box = place.querySelector("[data-passkey-error]");
    if (!box) return;
    let text = error && error.message ? error.message : String(error);
    if (error && error.name === "NotAllowedError") text = "The passkey was cancelled or timed out. Try again when you are ready.";
    if (error && error.name === "InvalidStateError") text = "This device already has a passkey for you here.";
    box.textContent = text;
    box.hidden = false;
  }

  function url(button, which) {
    const path = button.dataset[which];
    if (button.dataset.passkeyHere === undefined) return path;
    // Relative to this page's own path (an invite or recovery link).
    return new URL(path, location.origin + location.pathname.replace(/\/?$/, "/")).toString();
  }

  function fieldsOf(button) {
    const form = button.closest("form") || document;
    const fields = {};
    for (const name of (button.dataset.passkeyFields || "").split(",").filter(Boolean)) {
      const input = form.querySelector('[name="' + name + '"]');
      if (!input) continue;
      if (input.type === "checkbox") {
        if (input.checked) fields[name] = input.value;
      } else {
        fields[name] = input.value;
      }
    }
    return fields;
  }

  async function register(button) {
    const place = button.parentElement;
    const fields = fieldsOf(button);
    if ("name" in fields && !fields.name.trim()) {
      say(place, new Error("Type the name you want to be known by first."));
      return;
    }
    button.disabled = true;
    try {
      const begun = await post(url(button, "passkeyBegin"), fields);
      const credential = await navigator.credentials.create({ publicKey: creationOptions(begun.options) });
      const done = await post(
        url(button, "passkeyFinish"),
        Object.assign({}, fields, { ceremony: begun.ceremony, credential: answer(credential) }),
      );
      location.assign(done.to);
    } catch (e) {
      say(place, e);
      button.disabled = false;
    }
  }

  // Sign-in: modal from the button, or quietly through the name field's
  // autofill (conditional mediation) when the browser can.
  let quiet = null;
  async function signIn(place, conditional) {
    const next = place.dataset.next || "/";
    const begun = await post("/signin/passkey/begin", {});
    const request = { publicKey: requestOptions(begun.options) };
    if (conditional) {
      quiet = new AbortController();
      request.mediation = "conditional";
      request.signal = quiet.signal;
    }
    const credential = await navigator.credentials.get(request);
    const done = await post("/signin/passkey/finish", {
      ceremony: begun.ceremony,
      credential: answer(credential),
      next: next,
    });
    location.assign(done.to);
  }

  function start() {
    for (const part of document.querySelectorAll(".passkey-only")) part.hidden = false;
    for (const button of document.querySelectorAll("[data-passkey-begin]")) {
      button.addEventListener("click", () => register(button));
    }
    const place = document.getElementById("passkey-signin");
    if (!place) return;
    const button = place.querySelector("[data-passkey-signin]");
    button.addEventListener("click", async () => {
      if (quiet) quiet.abort();
      button.disabled = true;
      try {
        await signIn(place, false);
      } catch (e) {
        say(place, e);
        button.disabled = false;
      }
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((yes) => {
        if (!yes) return;
        signIn(place, true).catch((e) => {
          if (e && e.name !== "AbortError") say(place, e);
        });
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
