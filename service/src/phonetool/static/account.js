// The account page: the member's API tokens, made, named and revoked through /api/tokens,
// and their password, changed through /api/account/password.
"use strict";

const T = JSON.parse(document.getElementById("strings").textContent);

const $ = (selector) => document.querySelector(selector);

function text(tag, value, className) {
  const element = document.createElement(tag);
  element.textContent = value ?? "";
  if (className) element.className = className;
  return element;
}

const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "—");

function tokenRow(token) {
  const row = document.createElement("tr");
  row.dataset.token = token.id;
  row.append(text("td", token.name || "—", "token-name"), text("td", `${token.prefix}…`));
  row.append(text("td", when(token.created_at)), text("td", when(token.last_used_at), "token-used"));
  row.append(text("td", when(token.expires_at)));
  const action = document.createElement("td");
  if (token.revoked_at) {
    action.append(text("span", `${T.revoked} ${when(token.revoked_at)}`, "revoked"));
  } else {
    const revoke = text("button", T.revoke, "revoke");
    revoke.type = "button";
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      await fetch(`/api/tokens/${token.id}`, { method: "DELETE" });
      await load();
    });
    action.append(revoke);
  }
  row.append(action);
  return row;
}

async function load() {
  const me = await fetch("/api/session");
  if (!me.ok) {
    $("#account").hidden = true;
    $("#signed-out").hidden = false;
    return;
  }
  const who = await me.json();
  $("#who").textContent = `${who.name} <${who.email}>`;
  $("#account").hidden = false;
  const list = await (await fetch("/api/tokens")).json();
  $("#tokens tbody").replaceChildren(...list.tokens.map(tokenRow));
  showMore(list.next);
}

// Live tokens come first; revoked and expired ones follow, a page at a time.
function showMore(next) {
  const more = $("#more-tokens");
  more.hidden = !next;
  more.querySelector("button").onclick = async () => {
    const page = await (await fetch(next)).json();
    $("#tokens tbody").append(...page.tokens.map(tokenRow));
    showMore(page.next);
  };
}

$("#new-password").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("#password-changed").hidden = true;
  if (form.get("new_password") !== form.get("repeat")) {
    $("#password-error").textContent = T.passwords_differ;
    return;
  }
  const response = await fetch("/api/account/password", {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      current_password: form.get("current_password"),
      new_password: form.get("new_password"),
    }),
  });
  const answer = await response.json();
  $("#password-error").textContent = response.ok ? "" : answer.message;
  if (response.ok) {
    event.target.reset();
    $("#password-changed").textContent = T.password_changed.replace("%(n)s", answer.sessions_ended);
    $("#password-changed").hidden = false;
  }
});

$("#new-token").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: form.get("name") };
  if (form.get("days")) body.days = Number(form.get("days"));
  const response = await fetch("/api/tokens", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  $("#token-error").textContent = response.ok ? "" : answer.message;
  if (response.ok) {
    $("#new-token-value").textContent = answer.token;
    $("#new-token-shown").hidden = false;
    event.target.reset();
    await load();
  }
});

load();
