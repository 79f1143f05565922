// The simulated mini-program: one step after another, each calling the same API the mini-program calls.
// State lives in state.js (exposed read-only as window.__demo for scripted runs); every API error is shown on
// the step that made the call, as {"error": {code, message}} says it. Steps 1-4 (login, phone, policy and
// consent, a guardian's consent for under-14s) are here; creation.js has 5-10, rights.js 11-14.
import { ApiError, api, configure, onCall, sandbox } from "./api.js";
import { $, banner, facts, logCall, randomDigits, randomHex, run, setStep, showError, unlock, when } from "./ui.js";
import {
  cancelJob, cancelOrder, confirmPayment, createOrder, openUpload, uploadBlob, uploadSample,
} from "./creation.js";
import { confirmCancel, myData, requestExport, sendCancelCode, shareResult } from "./rights.js";
import { setToken, state } from "./state.js";

const GUARDIAN_PURPOSES = ["face_processing", "avatar_storage"];

// --- 1. log in with WeChat ----------------------------------------------------------------------------

async function loadUsers() {
  const { users } = await sandbox("GET", "users");
  const select = $("user-select");
  for (const user of users) {
    state.users[user.name] = user;
    const option = document.createElement("option");
    option.value = user.name;
    option.textContent = `${user.name}${user.phone ? ` (+${user.country_code} ${user.phone})` : ""}`;
    select.append(option);
  }
}

async function login() {
  let name = $("user-select").value;
  let user = state.users[name];
  if (name === "__new__") {
    name = `demo-${randomHex(3)}`;
    user = await sandbox("POST", "users", { name, phone: `139${randomDigits(8)}` });
  } else if (!user.phone) {
    user = await sandbox("POST", "users", { name, phone: `139${randomDigits(8)}` });
  }
  const code = await sandbox("POST", "login-codes", { user: name });
  const login = await api("POST", "/auth/wechat", { json: { code: code.code }, auth: false });
  setToken(login.token);
  Object.assign(state, { user, login });
  $("user-select").disabled = true;
  facts("login-facts", [
    ["测试用户 user", `${user.name} (+${user.country_code} ${user.phone})`],
    ["wx.login() code", `${code.code.slice(0, 10)}… (${code.expires_in}s)`],
    ["openid", code.openid],
    ["用户 id", login.user.id],
    ["新用户 new", login.new_user ? "是 yes" : "否 no"],
    ["登录凭证 token", `${login.token.slice(0, 8)}… (至 ${when(login.expires_at)})`],
  ]);
  setStep("login", "done");
  if (login.needs_phone) {
    unlock("phone");
  } else {
    state.phoneMasked = login.user.phone_masked;
    facts("phone-facts", [["手机号 phone", login.user.phone_masked]]);
    setStep("phone", "done", "已绑定");
    await enterPolicy();
  }
}

// --- 2. bind a phone ----------------------------------------------------------------------------------

async function bindPhone() {
  const code = await sandbox("POST", "phone-codes", { user: state.user.name });
  const bound = await api("POST", "/me/phone/wechat", { json: { code: code.code } });
  if (bound.token) setToken(bound.token); // merged into the account that already held this phone
  state.phoneMasked = bound.user.phone_masked;
  facts("phone-facts", [
    ["getPhoneNumber code", `${code.code.slice(0, 10)}…`],
    ["手机号 phone", bound.user.phone_masked],
    ["合并账号 merged", bound.merged ? "是：已并入持有该号码的账号" : "否 no"],
  ]);
  setStep("phone", "done");
  await enterPolicy();
}

// --- 3. privacy policy, consent, age ------------------------------------------------------------------

async function enterPolicy() {
  unlock("policy");
  await run("policy", null, async () => {
    const policy = await api("GET", "/policy/current", { auth: false });
    state.policy = policy;
    const summary = $("policy-summary");
    const title = document.createElement("strong");
    title.textContent = policy.title;
    const meta = document.createElement("div");
    meta.className = "en";
    meta.textContent = `版本 ${policy.id} · 生效 ${when(policy.effective_at)} · ${policy.operator.name}`;
    const text = document.createElement("div");
    text.className = "summary";
    text.textContent = policy.summary;
    summary.replaceChildren(title, meta, text);
    const box = $("purposes");
    box.querySelectorAll("label").forEach((label) => label.remove());
    for (const purpose of policy.purposes) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = purpose.id;
      input.id = `purpose-${purpose.id}`;
      input.checked = purpose.required;
      input.disabled = purpose.required;
      const tag = document.createElement("span");
      tag.className = purpose.separate ? "tag separate" : "tag";
      tag.textContent = purpose.required ? "必需" : purpose.separate ? "单独同意" : "可选";
      const description = document.createElement("span");
      description.className = "purpose-desc";
      description.textContent = `${purpose.description}（${purpose.legal_basis}）`;
      label.append(input, ` ${purpose.name}`, tag, description);
      box.append(label);
    }
  });
}

async function giveConsent() {
  if (!$("policy-read").checked) {
    throw new ApiError(0, "policy_not_accepted", "请先阅读并勾选同意《个人信息保护政策》 / tick “I have read and accept” first.");
  }
  const purposes = [...document.querySelectorAll("#purposes input:checked")].map((input) => input.value);
  let age = { adult_confirmed: true };
  if (document.querySelector("input[name=age]:checked").value === "minor") {
    const year = Number($("birth-year").value);
    if (!year) throw new ApiError(0, "birth_year_required", "未满 14 周岁请填写出生年份 / under 14: enter the birth year.");
    age = { birth_year: year };
  }
  await api("POST", "/me/consents", { json: { policy_version: state.policy.id, purposes,
    client: { app_version: "demo-web" } } });
  const declared = await api("POST", "/me/age", { json: age });
  const consents = await api("GET", "/me/consents");
  const given = consents.purposes.filter((p) => p.given).map((p) => p.purpose);
  const notes = [];
  if (!given.includes("face_processing")) notes.push("未单独同意人脸信息处理：上传将被拒绝 (consent_required)");
  if (declared.minor) notes.push("未满 14 周岁：上传前需监护人同意 (§9) / under 14: a guardian must consent first");
  facts("consent-facts", [
    ["已同意 consented", given.join(", ")],
    ["政策版本 accepted", consents.policy.accepted_version],
    ["未成年 minor", declared.minor ? "是 yes" : "否 no"],
    ...(notes.length ? [["注意 note", notes.join("；")]] : []),
  ]);
  setStep("policy", "done");
  state.minor = Boolean(declared.minor);
  if (state.minor && !consents.guardian) {
    enterGuardian(given);
    return;
  }
  setStep("guardian", "skipped", consents.guardian ? "✓ 已同意" : "无需 not needed (14+)");
  openUpload();
}

// --- 4. a guardian's consent, for users under 14 (§9) ------------------------------------------------

function enterGuardian(given) {
  state.guardianPurposes = GUARDIAN_PURPOSES.filter((purpose) => given.includes(purpose));
  if (!state.guardianPurposes.length) state.guardianPurposes = ["face_processing"];
  let phone = `138${randomDigits(8)}`;
  while (phone === state.user.phone) phone = `138${randomDigits(8)}`;
  $("guardian-phone").value = phone;
  $("guardian-upload-state").textContent = "上传：等待监护人同意 / upload: waiting for the guardian's consent "
    + "(POST /api/v1/uploads → 403 guardian_consent_required)";
  facts("guardian-facts", [["监护人将同意 purposes", state.guardianPurposes.join(", ")]]);
  unlock("guardian");
}

function guardianPhone() {
  const phone = $("guardian-phone").value.trim();
  if (!/^1\d{10}$/.test(phone)) {
    throw new ApiError(0, "guardian_phone_invalid", "请输入监护人的 11 位手机号 / enter the guardian's 11-digit mobile number.");
  }
  return phone;
}

async function sendGuardianCode() {
  const phone = guardianPhone();
  const sent = await api("POST", "/me/guardian/code", { json: { phone } });
  if (state.config.sms_outbox) {
    const { messages } = await api("GET", `/dev/sms/${phone}`, { auth: false });
    const last = messages[messages.length - 1];
    if (last) {
      $("guardian-sms").textContent = `${phone.slice(0, 3)}****${phone.slice(-4)}: ${last.text}`;
      $("guardian-sms").hidden = false;
      $("guardian-code").value = last.code;
    }
  }
  facts("guardian-facts", [
    ["监护人将同意 purposes", state.guardianPurposes.join(", ")],
    ["验证码 code", `已发送至监护人手机，${sent.expires_in} 秒内有效 / sent to the guardian's phone`],
  ]);
  setStep("guardian", "active", "待监护人确认 awaiting guardian");
}

async function giveGuardianConsent() {
  const phone = guardianPhone();
  const code = $("guardian-code").value.trim();
  if (!/^\d{6}$/.test(code)) throw new ApiError(0, "code_required", "请输入 6 位验证码 / enter the 6-digit code.");
  const guardian = await api("POST", "/me/guardian", { json: { phone, code, relation: $("guardian-relation").value,
    purposes: state.guardianPurposes, policy_version: state.policy.id } });
  state.guardian = guardian;
  facts("guardian-facts", [
    ["监护人 guardian", `${guardian.phone_masked} (${guardian.relation})`],
    ["已同意 consented", guardian.purposes.join(", ")],
    ["时间 at", when(guardian.given_at)],
  ]);
  $("guardian-upload-state").textContent = "上传：已可上传 / upload: allowed now";
  for (const id of ["btn-guardian-code", "btn-guardian-consent"]) {
    $(id).disabled = true;
    $(id).dataset.final = "1";
  }
  setStep("guardian", "done", "✓ 监护人已同意");
  openUpload();
}

// --- wiring -------------------------------------------------------------------------------------------

function wire() {
  $("btn-login").addEventListener("click", (event) => run("login", event.currentTarget, login));
  $("btn-phone").addEventListener("click", (event) => run("phone", event.currentTarget, bindPhone));
  $("btn-consent").addEventListener("click", (event) => run("policy", event.currentTarget, giveConsent));
  $("file-input").addEventListener("change", (event) => {
    const [file] = event.currentTarget.files;
    if (file) run("upload", null, () => uploadBlob(file, file.name));
    event.currentTarget.value = "";
  });
  $("btn-sample").addEventListener("click", (event) => run("upload", event.currentTarget, uploadSample));
  $("btn-cancel-job").addEventListener("click", (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    cancelJob().catch((error) => showError("job", error)).finally(() => { button.disabled = false; });
  });
  $("btn-order").addEventListener("click", (event) => run("pay", event.currentTarget, createOrder));
  $("btn-pay-confirm").addEventListener("click", (event) => run("pay", event.currentTarget, confirmPayment));
  $("btn-pay-cancel").addEventListener("click", (event) => run("pay", event.currentTarget, cancelOrder));
  $("btn-guardian-code").addEventListener("click", (event) => run("guardian", event.currentTarget, sendGuardianCode));
  $("btn-guardian-consent").addEventListener("click",
    (event) => run("guardian", event.currentTarget, giveGuardianConsent));
  $("btn-share").addEventListener("click", (event) => run("share", event.currentTarget, shareResult));
  $("btn-data").addEventListener("click", (event) => run("data", event.currentTarget, myData));
  $("btn-export").addEventListener("click", (event) => run("export", event.currentTarget, requestExport));
  $("btn-cancel-code").addEventListener("click", (event) => run("cancel", event.currentTarget, sendCancelCode));
  $("btn-cancel-confirm").addEventListener("click", (event) => run("cancel", event.currentTarget, confirmCancel));
  $("btn-restart").addEventListener("click", () => window.location.reload());
}

async function init() {
  onCall(logCall);
  wire();
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    state.config = await response.json();
  } catch (error) {
    banner(`无法读取 /demo/config.json: ${error.message}`);
    return;
  }
  configure(state.config);
  if (!state.config.sandbox) {
    banner("微信沙箱未开启 (WECHAT_SANDBOX=0)：本演示只能在开发环境中运行 / the demo needs the WeChat sandbox (development).");
    $("btn-login").disabled = true;
    return;
  }
  $("sandbox-link").href = state.config.sandbox_url;
  await run("login", null, loadUsers);
  setStep("login", "active");
  document.body.dataset.ready = "1";
}

init();
