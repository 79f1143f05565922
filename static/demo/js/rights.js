// Steps 11-14: sharing a result, then the user's rights — "my data" (holdings, deletion receipts, operation
// log), the data export and cancelling the account.
import { ApiError, api, media } from "./api.js";
import { $, facts, setStep, sleep, unlock, when } from "./ui.js";
import { setToken, state } from "./state.js";

// Category names, retention periods, receipt reasons and operation names come from the API in the user's language
// (label, retention, data_kind_label, reason_text, action_label): the server's message catalogs, not this page.

// --- 11. share (the mini-program's share sheet) -------------------------------------------------------

export async function shareResult() {
  const shared = await api("POST", `/results/${state.result.id}/share`);
  // What the friend sees: the link opened without our token, as anyone holding it would.
  const response = await media(shared.url);
  const blob = await response.blob();
  const bitmap = await createImageBitmap(blob);
  state.share = { ...shared, width: bitmap.width, height: bitmap.height, bytes: blob.size };
  const url = new URL(shared.url, window.location.href);
  $("share-img").src = URL.createObjectURL(blob);
  const link = $("share-link");
  link.href = url.pathname + url.search;
  link.textContent = `${url.pathname.slice(0, 40)}…`;
  $("share-card").hidden = false;
  facts("share-facts", [
    ["分享链接 link", shared.url],
    ["有效至 expires", when(shared.expires_at)],
    ["朋友看到 friends see", `带水印预览 ${bitmap.width}×${bitmap.height}（非高清原图 ${state.result.width}×${state.result.height}）`],
  ]);
  setStep("share", "done", "✓ 已分享 shared");
  unlock("data");
}

// --- 12. my data, deletion receipts -------------------------------------------------------------------

export async function myData() {
  const data = await api("GET", "/me/data");
  const body = $("data-table").querySelector("tbody");
  body.replaceChildren();
  for (const category of data.categories) {
    const row = document.createElement("tr");
    for (const value of [category.label || category.name, category.count, category.retention]) {
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
    item.textContent = `${when(receipt.deleted_at)} · ${receipt.data_kind_label || receipt.data_kind} ${receipt.subject_id} · `
      + `${receipt.reason_text || receipt.reason}`;
    if (state.upload && receipt.subject_id === state.upload.id) item.className = "source";
    list.append(item);
  }
  $("receipts-title").hidden = false;
  await showOperations();
  const source = state.upload && receipts.find((r) => r.subject_id === state.upload.id);
  state.sourceReceipt = source || null;
  const callout = $("receipt-callout");
  callout.textContent = source
    ? `您上传的原始照片（${source.data_kind_label || source.data_kind} ${source.subject_id}）已于 `
      + `${when(source.deleted_at)} 删除：${source.reason_text || source.reason}。`
      + `Your source photo was deleted (${source.reason}).`
    : "未找到原始照片的删除回执 / no deletion receipt for the source photo yet.";
  callout.hidden = false;
  if (!source) throw new ApiError(0, "receipt_missing", callout.textContent);
  setStep("data", "done");
  unlock("export");
  unlock("cancel");
}

async function showOperations() {
  const { operations } = await api("GET", "/me/operations");
  state.operations = operations;
  const list = $("operations");
  list.replaceChildren();
  for (const operation of operations) {
    const item = document.createElement("li");
    item.textContent = `${when(operation.at)} · ${operation.action_label || operation.action} `
      + `${operation.subject_type} ${operation.subject_id}`;
    if (operation.action === "share") item.className = "shared";
    list.append(item);
  }
  $("operations-title").hidden = false;
  if (state.share && !operations.some((o) => o.action === "share" && o.subject_id === state.share.result_id)) {
    throw new ApiError(0, "share_not_logged", "操作日志中没有这次分享 / the share is missing from the operation log.");
  }
}

// --- 13. export (only if the server offers it) --------------------------------------------------------

export async function requestExport() {
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

// --- 14. cancel the account ---------------------------------------------------------------------------

export async function sendCancelCode() {
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

export async function confirmCancel() {
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
  for (const id of ["btn-cancel-code", "btn-cancel-confirm", "btn-export", "btn-data", "btn-share"]) {
    $(id).disabled = true;
    $(id).dataset.final = "1"; // the account is gone: these stay disabled
  }
  $("btn-restart").hidden = false;
}
