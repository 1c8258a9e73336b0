// Citadel console: passkeys (WebAuthn). Options come from the server as JSON (binary values in
// base64url); the browser's answer goes back as JSON in a hidden field of the same form.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBuffer(c.id) }); });
  }

  function credentialJSON(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function options(url, form) {
    var body = "csrf_token=" + encodeURIComponent(form.elements.csrf_token.value);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: body
    }).then(function (response) {
      if (!response.ok) throw new Error("The server refused to start the passkey step; reload the page.");
      return response.json();
    }).then(function (data) { return data.public_key; });
  }

  function fail(form, error) {
    var box = form.querySelector("[data-passkey-error]") || document.getElementById("passkey-error");
    if (!box) return;
    box.textContent = (error && error.name === "NotAllowedError")
      ? "The passkey step was cancelled or timed out, or no passkey for this site is on this device."
      : (error && error.message) || "The passkey step failed.";
    box.hidden = false;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    // Add a passkey: <form data-passkey-create="options URL"> with a hidden `credential`.
    if (form.hasAttribute("data-passkey-create")) {
      event.preventDefault();
      options(form.getAttribute("data-passkey-create"), form).then(function (o) {
        o.challenge = toBuffer(o.challenge);
        o.user = Object.assign({}, o.user, { id: toBuffer(o.user.id) });
        o.excludeCredentials = descriptors(o.excludeCredentials);
        return navigator.credentials.create({ publicKey: o });
      }).then(function (credential) {
        form.elements.credential.value = credentialJSON(credential);
        form.submit();
      }).catch(function (error) { fail(form, error); });
      return;
    }
    // Sign in with a passkey: the submit button carrying data-passkey-get="options URL" asks
    // the device first and posts the answer in the hidden `passkey_assertion`.
    var button = event.submitter;
    if (!button || !button.hasAttribute("data-passkey-get")) return;
    event.preventDefault();
    options(button.getAttribute("data-passkey-get"), form).then(function (o) {
      o.challenge = toBuffer(o.challenge);
      o.allowCredentials = descriptors(o.allowCredentials);
      return navigator.credentials.get({ publicKey: o });
    }).then(function (credential) {
      form.elements.passkey_assertion.value = credentialJSON(credential);
      if (form.elements.totp_code) form.elements.totp_code.value = "";
      form.submit();
    }).catch(function (error) { fail(form, error); });
  });
})();
