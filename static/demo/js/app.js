// The simulated mini-program: one step after another, each calling the same API the mini-program calls.
// State lives in `state` (exposed read-only as window.__demo for scripted runs); every API error is shown on
// the step that made the call, as {"error": {code, message}} says it.
import { ApiError, api, configure, media, onCall, sandbox, setToken } from "./api.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const state = {
  config: null, users: {}, user: null, login: null, policy: null, upload: null, styles: [], style: null,
  job: null, result: null, product: null, order: null, payment: null, preview: null, hd: null, receipts: [],
  sourceReceipt: null, export: null, cancelled: false, phoneMasked: null,
};
window.__demo = state;

const BADGES = { locked: "", active: "", working: "进行中", done: "✓ 完成", error: "出错 error", skipped: "跳过" };
const JOB_STATUS = { queued: "排队中 queued", running: "生成中 running", succeeded: "已完成 succeeded",
  failed: "失败 failed", cancelled: "已取消 cancelled" };
const REASONS = { job_succeeded: "生成完成后立即删除", job_failed: "任务失败后立即删除", job_cancelled: "任务取消后立即删除",
  job_timed_out: "任务超时后立即删除", user_request: "应您的要求删除", unclaimed: "未使用，到期自动删除" };
const ONE_PHOTO_KINDS = ["photo", "id_photo"];

// --- page helpers ---------------------------------------------------------------------------------------

function setStep(id, stepState, badge) {
  const element = $(`step-${id}`);
  element.dataset.state = stepState;
  element.querySelector(".badge").textContent = badge ?? BADGES[stepState];
}

function unlock(id) {
  const element = $(`step-${id}`);
  if (element.dataset.state === "locked") setStep(id, "active");
  setTimeout(() => element.scrollIntoView({ behavior: "smooth", block: "start" }), 50);
}

function clearError(id) {
  const box = $(`step-${id}`).querySelector(".error");
  box.hidden = true;
  box.replaceChildren();
}

function showError(id, error) {
  const box = $(`step-${id}`).querySelector(".error");
  const lines = [];
  if (error instanceof ApiError) {
    const head = document.createElement("div");
    const code = document.createElement("code");
    code.textContent = error.code;
    head.append(code, ` ${error.message}`);
    lines.push(head);
    const extra = [];
    if (error.status) extra.push(`HTTP ${error.status}`);
    if (error.details && error.details.reason) extra.push(`reason: ${error.details.reason}`);
    if (error.details && error.details.retry_after) extra.push(`retry after ${error.details.retry_after}s`);
    if (error.details && Array.isArray(error.details.fields)) {
      extra.push(error.details.fields.map((f) => `${f.field}: ${f.message}`).join("; "));
    }
    if (error.requestId) extra.push(`request ${error.requestId}`);
    if (extra.length) {
      const small = document.createElement("div");
      small.className = "en";
      small.textContent = extra.join(" · ");
      lines.push(small);
    }
  } else {
    console.error(error);
    const div = document.createElement("div");
    div.textContent = `${error.name || "Error"}: ${error.message}`;
    lines.push(div);
  }
  box.replaceChildren(...lines);
  box.hidden = false;
}

/** Fill a <dl> with [label, value] pairs (text only). */
function facts(id, pairs) {
  const list = $(id);
  list.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === undefined) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value === null ? "—" : String(value);
    list.append(dt, dd);
  }
}

/** Run one step's action: errors are shown on the step, the button is disabled meanwhile. */
async function run(id, button, action) {
  clearError(id);
  if (button) button.disabled = true;
  const before = $(`step-${id}`).dataset.state;
  setStep(id, "working");
  try {
    await action();
  } catch (error) {
    showError(id, error);
    setStep(id, "error");
  } finally {
    if (button && !button.dataset.final) button.disabled = false;
    if ($(`step-${id}`).dataset.state === "working") setStep(id, before === "locked" ? "active" : before);
  }
}

function when(iso) {
  if (!iso) return null;
  return new Date(iso).toLocaleString("zh-CN", { hour12: false });
}

function yuan(fen) { return `¥${(fen / 100).toFixed(2)}`; }

function randomDigits(count) {
  const values = crypto.getRandomValues(new Uint8Array(count));
  return Array.from(values, (v) => String(v % 10)).join("");
}

function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (v) => v.toString(16).padStart(2, "0")).join("");
}

function logCall({ who, method, path, status, ms }) {
  const item = document.createElement("li");
  if (!status || status >= 400) item.className = "fail";
  const tag = document.createElement("span");
  tag.className = "who";
  tag.textContent = who === "sandbox" ? "沙箱 " : who === "media" ? "媒体 " : "";
  item.append(tag, `${method} ${path} → ${status || "network error"} (${ms} ms)`);
  $("log").append(item);
  $("log-count").textContent = String($("log").children.length);
}

function banner(text) {
  const element = $("banner");
  element.textContent = text;
  element.hidden = false;
}

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
  if (document.querySelector("input[name=age]:checked").value === "year") {
    const year = Number($("birth-year").value);
    if (!year) throw new ApiError(0, "birth_year_required", "请填写出生年份 / enter a birth year.");
    age = { birth_year: year };
  }
  await api("POST", "/me/consents", { json: { policy_version: state.policy.id, purposes,
    client: { app_version: "demo-web" } } });
  const declared = await api("POST", "/me/age", { json: age });
  const consents = await api("GET", "/me/consents");
  const given = consents.purposes.filter((p) => p.given).map((p) => p.purpose);
  const notes = [];
  if (!given.includes("face_processing")) notes.push("未单独同意人脸信息处理：上传将被拒绝 (consent_required)");
  if (declared.minor) notes.push("未满 14 周岁：上传前需监护人同意 (POST /api/v1/me/guardian…)，本演示不含此流程");
  facts("consent-facts", [
    ["已同意 consented", given.join(", ")],
    ["政策版本 accepted", consents.policy.accepted_version],
    ["未成年 minor", declared.minor ? "是 yes" : "否 no"],
    ...(notes.length ? [["注意 note", notes.join("；")]] : []),
  ]);
  setStep("policy", "done");
  unlock("upload");
  loadStyles().catch((error) => showError("style", error));
}

// --- 4. upload a portrait -----------------------------------------------------------------------------

async function uploadBlob(blob, filename) {
  const thumb = $("upload-thumb");
  thumb.src = URL.createObjectURL(blob);
  thumb.hidden = false;
  const form = new FormData();
  form.append("file", blob, filename);
  form.append("declaration", document.querySelector("input[name=declaration]:checked").value);
  let upload = await api("POST", "/uploads", { form });
  const show = () => facts("upload-facts", [
    ["照片 id", upload.id],
    ["尺寸 size", `${upload.width}×${upload.height}（已去除 EXIF/GPS 等元数据）`],
    ["状态 status", upload.status === "pending_review" ? "内容安全审核中 pending_review" : upload.status],
    ["未使用将于 delete after", when(upload.delete_after)],
  ]);
  show();
  const deadline = Date.now() + 120000;
  while (upload.status === "pending_review" && Date.now() < deadline) {
    await sleep(700);
    upload = await api("GET", `/uploads/${upload.id}`);
    show();
  }
  if (upload.status !== "ready") {
    throw new ApiError(0, `upload_${upload.status}`,
      `照片未通过审核 / not accepted: ${upload.status}${upload.rejection_reason ? ` (${upload.rejection_reason})` : ""}`);
  }
  state.upload = upload;
  setStep("upload", "done");
  unlock("style");
}

async function uploadSample() {
  const response = await fetch(state.config.sample_photo);
  if (!response.ok) throw new ApiError(response.status, "sample_missing", "示例照片不可用 / the sample is missing");
  await uploadBlob(await response.blob(), "portrait-astronaut.png");
}

// --- 5. choose a style --------------------------------------------------------------------------------

async function loadStyles() {
  if (state.styles.length) return;
  const { styles } = await api("GET", "/styles");
  state.styles = styles;
  const grid = $("style-grid");
  grid.replaceChildren();
  for (const style of styles) {
    const button = document.createElement("button");
    button.dataset.style = style.id;
    button.append(style.name);
    const note = document.createElement("span");
    note.className = "note";
    const usable = ONE_PHOTO_KINDS.includes(style.kind) && style.min_photos <= 1;
    note.textContent = usable ? style.name_en
      : style.kind === "avatar" ? `需 ${style.min_photos}–${style.max_photos} 张照片` : "需购买生成次数 (credit)";
    button.append(note);
    button.disabled = !usable;
    button.addEventListener("click", () => run("style", null, () => startJob(style, button)));
    grid.append(button);
  }
}

async function startJob(style, button) {
  if (!state.upload) throw new ApiError(0, "upload_required", "请先上传照片 / upload a portrait first.");
  const job = await api("POST", "/jobs", { json: { style: style.id, uploads: [state.upload.id] } });
  state.style = style;
  state.job = job;
  button.classList.add("chosen");
  $("style-grid").querySelectorAll("button").forEach((b) => { b.disabled = true; });
  setStep("style", "done", `✓ ${style.name}`);
  unlock("job");
  await run("job", null, followJob);
}

// --- 6. queue position and progress -------------------------------------------------------------------

function renderJob(job) {
  $("job-bar").style.width = `${Math.round(job.progress * 100)}%`;
  facts("job-facts", [
    ["任务 job", job.id],
    ["风格 style", job.style],
    ["状态 status", JOB_STATUS[job.status] || job.status],
    ["进度 progress", `${Math.round(job.progress * 100)}%`],
    ["排队位置 queue", job.queue_position ?? (job.status === "queued" ? "…" : null)],
    ["预计等待 wait", job.estimated_wait_s != null ? `约 ${job.estimated_wait_s} 秒` : null],
    ["原始照片已删除 sources deleted", when(job.sources_deleted_at)],
  ]);
}

async function followJob() {
  $("btn-cancel-job").hidden = false;
  let job = state.job;
  renderJob(job);
  try {
    while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
      await sleep(700);
      job = await api("GET", `/jobs/${job.id}`);
      state.job = job;
      renderJob(job);
    }
  } finally {
    $("btn-cancel-job").hidden = true;
  }
  if (job.status !== "succeeded") {
    throw new ApiError(0, job.error_code || `job_${job.status}`,
      job.error_message || `任务${JOB_STATUS[job.status]}；原始照片已删除，请重新上传 / upload again to retry.`);
  }
  state.result = job.results[0];
  setStep("job", "done");
  unlock("preview");
  await run("preview", null, showPreview);
}

async function cancelJob() {
  const job = await api("POST", `/jobs/${state.job.id}/cancel`);
  state.job = job;
  renderJob(job);
}

// --- 7. watermarked preview ---------------------------------------------------------------------------

async function showPreview() {
  const result = state.result;
  const links = await api("GET", `/results/${result.id}/links`);
  if (!links.preview_url) throw new ApiError(0, "no_preview", "该结果没有预览 / no preview for this result.");
  const blob = await (await media(links.preview_url)).blob();
  const bitmap = await createImageBitmap(blob);
  state.preview = { width: bitmap.width, height: bitmap.height, bytes: blob.size };
  const image = $("preview-img");
  image.src = URL.createObjectURL(blob);
  image.hidden = false;
  facts("preview-facts", [
    ["结果 result", `${result.id} (${result.kind} ${result.width}×${result.height})`],
    ["预览 preview", `${bitmap.width}×${bitmap.height}，平铺水印 + “AI生成”标识，免费`],
    ["链接有效至 link expires", when(links.expires_at)],
  ]);
  setStep("preview", "done");
  unlock("pay");
  await run("pay", null, loadProduct);
}

// --- 8. pay in the sandbox ----------------------------------------------------------------------------

async function loadProduct() {
  const { products } = await api("GET", "/products", { auth: false });
  state.product = products.find((p) => p.id === "hd_result");
  facts("pay-facts", [["商品 product", `${state.product.name} ${yuan(state.product.price_fen)}`]]);
  $("btn-order").textContent = `微信支付 ${yuan(state.product.price_fen)}`;
}

function renderOrder(extra = []) {
  const order = state.order;
  facts("pay-facts", [
    ["商品 product", order.item],
    ["订单号 order", order.order_no],
    ["金额 amount", yuan(order.amount_fen)],
    ["状态 status", `${order.status} / ${order.payment_status}`],
    ["支付时间 paid", when(order.paid_at)],
    ...extra,
  ]);
}

async function createOrder() {
  let created;
  try {
    created = await api("POST", "/orders", { json: { product: "hd_result", subject: state.result.id } });
  } catch (error) {
    if (error.code === "payment_unavailable" && !state.config.pay_sandbox) {
      error.message += ` — 微信支付网关不是沙箱 / WeChat Pay's gateway is not the sandbox: start the stack with `
        + `WECHAT_PAY_BASE_URL=${state.config.sandbox_url.replace(/\/sandbox\/$/, "")}`;
    }
    throw error;
  }
  state.order = created.order;
  state.payment = created.payment;
  renderOrder([["wx.requestPayment", `${created.payment.package.slice(0, 28)}… (${created.payment.signType})`]]);
  $("paysheet-amount").textContent = yuan(created.order.amount_fen);
  $("paysheet-merchant").textContent = `秒画 · ${created.order.item} · 付款人 ${state.user.name}`;
  $("paysheet").hidden = false;
  $("btn-order").hidden = true;
  setStep("pay", "active", "待支付 awaiting payment");
}

async function confirmPayment() {
  const paid = await sandbox("POST", "pay/pay", { user: state.user.name, request_payment: state.payment });
  $("paysheet").hidden = true;
  const tx = [["微信支付 WeChat Pay", `${paid.transaction.trade_state} ${paid.transaction.transaction_id || ""}`]];
  renderOrder(tx);
  const deadline = Date.now() + 60000;
  for (let poll = 1; state.order.status !== "fulfilled"; poll += 1) {
    if (Date.now() > deadline) throw new ApiError(0, "payment_pending", "支付结果未到达 / no payment notification yet.");
    await sleep(600);
    // The notification may be late: after a few polls ask WeChat Pay through the backend, as the client would.
    state.order = await api(poll % 8 === 0 ? "POST" : "GET", `/orders/${state.order.order_no}${poll % 8 === 0 ? "/sync" : ""}`);
    renderOrder(tx);
  }
  setStep("pay", "done", "✓ 已支付 paid");
  unlock("hd");
  await run("hd", null, downloadHd);
}

async function cancelOrder() {
  $("paysheet").hidden = true;
  state.order = await api("POST", `/orders/${state.order.order_no}/cancel`);
  renderOrder();
  $("btn-order").hidden = false;
  setStep("pay", "active", "已取消 cancelled");
}

// --- 9. the HD original -------------------------------------------------------------------------------

async function downloadHd() {
  const result = state.result;
  const links = await api("GET", `/results/${result.id}/links`);
  const response = await media(links.original_url);
  const blob = await response.blob();
  const bitmap = await createImageBitmap(blob); // throws if it does not decode
  const matches = bitmap.width === result.width && bitmap.height === result.height;
  state.hd = { width: bitmap.width, height: bitmap.height, bytes: blob.size, matches };
  const url = URL.createObjectURL(blob);
  const image = $("hd-img");
  image.src = url;
  image.hidden = false;
  const link = $("hd-download");
  link.href = url;
  link.download = `miaohua-${result.id}.jpg`;
  link.hidden = false;
  facts("hd-facts", [
    ["尺寸 size", `${bitmap.width}×${bitmap.height} ${matches ? "✓ 与结果一致" : `✗ 结果为 ${result.width}×${result.height}`}`],
    ["大小 bytes", `${blob.size.toLocaleString()} (${response.headers.get("Content-Type")})`],
  ]);
  if (!matches) throw new ApiError(0, "hd_size_mismatch", "高清原图尺寸与结果不符 / the HD size differs from the result.");
  setStep("hd", "done");
  unlock("data");
}

// --- 10. my data, deletion receipts -------------------------------------------------------------------

async function myData() {
  const data = await api("GET", "/me/data");
  const body = $("data-table").querySelector("tbody");
  body.replaceChildren();
  for (const category of data.categories) {
    const row = document.createElement("tr");
    for (const value of [category.name, category.count, category.retention]) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.append(cell);
    }
    body.append(row);
  }
  $("data-table").hidden = false;
  const { receipts } = await api("GET", "/me/deletion-receipts");
  state.receipts = receipts;
  const list = $("receipts");
  list.replaceChildren();
  for (const receipt of receipts) {
    const item = document.createElement("li");
    item.textContent = `${when(receipt.deleted_at)} · ${receipt.data_kind} ${receipt.subject_id} · ${receipt.reason}`;
    if (state.upload && receipt.subject_id === state.upload.id) item.className = "source";
    list.append(item);
  }
  $("receipts-title").hidden = false;
  const source = state.upload && receipts.find((r) => r.subject_id === state.upload.id);
  state.sourceReceipt = source || null;
  const callout = $("receipt-callout");
  callout.textContent = source
    ? `您上传的原始照片（${source.data_kind} ${source.subject_id}）已于 ${when(source.deleted_at)} 删除：`
      + `${REASONS[source.reason] || source.reason}。Your source photo was deleted (${source.reason}).`
    : "未找到原始照片的删除回执 / no deletion receipt for the source photo yet.";
  callout.hidden = false;
  if (!source) throw new ApiError(0, "receipt_missing", callout.textContent);
  setStep("data", "done");
  unlock("export");
  unlock("cancel");
}

// --- 11. export (only if the server offers it) --------------------------------------------------------

async function requestExport() {
  let exported;
  try {
    exported = await api("POST", "/me/exports");
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      facts("export-facts", [["导出 export", "本服务器尚未提供数据导出 (POST /api/v1/me/exports → 404)"]]);
      setStep("export", "skipped", "暂未开放 not offered");
      return;
    }
    throw error;
  }
  const show = () => facts("export-facts", [
    ["导出 export", exported.id],
    ["状态 state", exported.state],
    ["大小 bytes", exported.size_bytes],
    ["保存至 expires", when(exported.expires_at)],
    ...(exported.failure_reason ? [["失败原因 reason", exported.failure_reason]] : []),
  ]);
  show();
  const deadline = Date.now() + 120000;
  while (["pending", "running"].includes(exported.state) && Date.now() < deadline) {
    await sleep(1000);
    exported = await api("GET", `/me/exports/${exported.id}`);
    show();
  }
  state.export = exported;
  if (exported.state !== "ready") {
    throw new ApiError(0, `export_${exported.state}`, exported.failure_reason || `导出未完成 / export ${exported.state}`);
  }
  if (exported.download_url) {
    const url = new URL(exported.download_url, window.location.href);
    const link = $("export-download");
    link.href = url.pathname + url.search;
    link.hidden = false;
  }
  setStep("export", "done");
}

// --- 12. cancel the account ---------------------------------------------------------------------------

async function sendCancelCode() {
  const sent = await api("POST", "/me/cancellation/code");
  const pairs = [["验证码 code", `已发送至 ${state.phoneMasked || "绑定手机"}，${sent.expires_in} 秒内有效`]];
  if (state.config.sms_outbox) {
    const { messages } = await api("GET", `/dev/sms/${state.user.phone}`, { auth: false });
    const last = messages[messages.length - 1];
    if (last) {
      $("sms").textContent = last.text;
      $("sms").hidden = false;
      $("cancel-code").value = last.code;
    }
  }
  facts("cancel-facts", pairs);
  setStep("cancel", "active", "待确认 confirm");
}

async function confirmCancel() {
  const code = $("cancel-code").value.trim();
  if (!/^\d{6}$/.test(code)) throw new ApiError(0, "code_required", "请输入 6 位验证码 / enter the 6-digit code.");
  await api("POST", "/me/cancellation", { json: { code } });
  let after;
  try {
    await api("GET", "/me");
    after = "✗ 旧凭证仍然有效 (unexpected)";
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    after = `旧登录凭证已失效 (GET /api/v1/me → 401 ${error.code})`;
  }
  setToken(null);
  state.cancelled = true;
  facts("cancel-facts", [["账号 account", "已注销 cancelled"], ["凭证 token", after]]);
  setStep("cancel", "done", "✓ 已注销");
  for (const id of ["btn-cancel-code", "btn-cancel-confirm", "btn-export", "btn-data"]) {
    $(id).disabled = true;
    $(id).dataset.final = "1"; // the account is gone: these stay disabled
  }
  $("btn-restart").hidden = false;
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
