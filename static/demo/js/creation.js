// Steps 5-10 of the simulated mini-program: upload a portrait, choose a style, follow the job in the queue,
// the watermarked preview, paying in the WeChat sandbox, and the HD original the payment unlocks.
import { ApiError, api, media, sandbox } from "./api.js";
import { $, facts, run, setStep, showError, sleep, unlock, when, yuan } from "./ui.js";
import { state } from "./state.js";

const JOB_STATUS = { queued: "排队中 queued", running: "生成中 running", succeeded: "已完成 succeeded",
  failed: "失败 failed", cancelled: "已取消 cancelled" };
const ONE_PHOTO_KINDS = ["photo", "id_photo"];

export function openUpload() {
  unlock("upload");
  loadStyles().catch((error) => showError("style", error));
}

// --- 5. upload a portrait -----------------------------------------------------------------------------

export async function uploadBlob(blob, filename) {
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

export async function uploadSample() {
  const response = await fetch(state.config.sample_photo);
  if (!response.ok) throw new ApiError(response.status, "sample_missing", "示例照片不可用 / the sample is missing");
  await uploadBlob(await response.blob(), "portrait-astronaut.png");
}

// --- 6. choose a style --------------------------------------------------------------------------------

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

// --- 7. queue position and progress -------------------------------------------------------------------

// queue_position is 1-based (1 = runs next): 排队第 N 位，前面还有 N-1 人 (docs/api-conventions.md).
function queueText(job) {
  if (job.status !== "queued") return null;
  if (job.queue_position == null) return "…";
  return `排队第 ${job.queue_position} 位，前面还有 ${job.queue_position - 1} 人 (position ${job.queue_position})`;
}

function renderJob(job) {
  $("job-bar").style.width = `${Math.round(job.progress * 100)}%`;
  facts("job-facts", [
    ["任务 job", job.id],
    ["风格 style", job.style],
    ["状态 status", JOB_STATUS[job.status] || job.status],
    ["进度 progress", `${Math.round(job.progress * 100)}%`],
    ["排队 queue", queueText(job)],
    ["预计等待 wait", job.estimated_wait_s != null ? `约 ${job.estimated_wait_s} 秒` : null],
    ["下次查询 next poll", job.next_poll_after_s != null ? `${job.next_poll_after_s} 秒后 / in ${job.next_poll_after_s} s` : null],
    ["原始照片已删除 sources deleted", when(job.sources_deleted_at)],
  ]);
}

function pollDelayMs(job) {
  const seconds = Number.isFinite(job.next_poll_after_s) ? job.next_poll_after_s : 2;
  return Math.min(Math.max(seconds, 1), 60) * 1000;
}

async function followJob() {
  $("btn-cancel-job").hidden = false;
  let job = state.job;
  renderJob(job);
  try {
    while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
      // Ask again when the server says (next_poll_after_s = Retry-After: 2 s near the front or while running,
      // up to 60 s far back in the queue; docs/api-conventions.md), not on a fixed timer.
      await sleep(pollDelayMs(job));
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

export async function cancelJob() {
  const job = await api("POST", `/jobs/${state.job.id}/cancel`);
  state.job = job;
  renderJob(job);
}

// --- 8. watermarked preview ---------------------------------------------------------------------------

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

// --- 9. pay in the sandbox ----------------------------------------------------------------------------

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

export async function createOrder() {
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

export async function confirmPayment() {
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

export async function cancelOrder() {
  $("paysheet").hidden = true;
  state.order = await api("POST", `/orders/${state.order.order_no}/cancel`);
  renderOrder();
  $("btn-order").hidden = false;
  setStep("pay", "active", "已取消 cancelled");
}

// --- 10. the HD original -------------------------------------------------------------------------------

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
  unlock("share");
}
