// The mini-program's main flow, typed by the generated schema (src/schema.d.ts, from openapi.json):
// log in → bind the phone → accept the policy → upload a portrait → start a job → follow it → buy the HD
// original. CI compiles this with `tsc --strict`: a renamed field, a removed operation or a new error code
// the switch below does not handle fails the build.
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];

// The mini-program's runtime has timers (no DOM, no Node): declared, not imported.
declare function setTimeout(callback: () => void, ms: number): number;

// --- the transport: wx.request / wx.uploadFile, reduced to what the flow needs ---------------------------
export interface Transport {
  request(method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body: unknown,
          headers: Record<string, string>): Promise<{ status: number; body: unknown }>;
  upload(path: string, filePath: string, fields: Record<string, string>,
         headers: Record<string, string>): Promise<{ status: number; body: unknown }>;
}

type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : never;
type Responses<O> = O extends { responses: infer R } ? R : never;
type Ok<O, S extends keyof Responses<O>> = JsonOf<Responses<O>[S]>;
type Failure<O> = { [S in keyof Responses<O>]: S extends 200 | 201 | 202 | 204 ? never : JsonOf<Responses<O>[S]> }[
  keyof Responses<O>];
/** The error codes one operation can answer: the document's enum, per operation. */
export type ErrorCodeOf<O> = Failure<O> extends { error: { code: infer C } } ? C : never;

export class ApiFailure<O> extends Error {
  constructor(readonly status: number, readonly body: Failure<O>) {
    super(`HTTP ${status}`);
  }
}

async function call<O>(transport: Transport, token: string | null, method: "GET" | "POST" | "PATCH" | "DELETE",
                       path: string, body: unknown, expected: number, idempotencyKey?: string): Promise<unknown> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await transport.request(method, path, body, headers);
  if (response.status !== expected) throw new ApiFailure<O>(response.status, response.body as Failure<O>);
  return response.body;
}

// --- the operations the flow uses -------------------------------------------------------------------------
type Login = operations["accounts_login_wechat"];
type BindPhone = operations["accounts_bind_phone_wechat"];
type GiveConsent = operations["consent_give_consent"];
type CurrentPolicy = operations["consent_current_policy"];
type CreateUpload = operations["uploads_create_upload"];
type CreateJob = operations["generation_create_job"];
type GetJob = operations["generation_get_job"];
type CreateOrder = operations["orders_create_order"];
type ListOrders = operations["orders_list_orders"];

export async function login(t: Transport, code: string, device: Schemas["DeviceInfo"]): Promise<Ok<Login, 200>> {
  const body: JsonOf<Login["requestBody"]> = { code, device };
  return (await call<Login>(t, null, "POST", "/api/v1/auth/wechat", body, 200)) as Ok<Login, 200>;
}

export async function bindPhone(t: Transport, token: string, code: string): Promise<Ok<BindPhone, 200>> {
  const body: JsonOf<BindPhone["requestBody"]> = { code };
  return (await call<BindPhone>(t, token, "POST", "/api/v1/me/phone/wechat", body, 200)) as Ok<BindPhone, 200>;
}

export async function acceptPolicy(t: Transport, token: string): Promise<void> {
  const policy = (await call<CurrentPolicy>(t, token, "GET", "/api/v1/policy/current", undefined, 200)) as
    Ok<CurrentPolicy, 200>;
  const body: JsonOf<GiveConsent["requestBody"]> = {
    policy_version: policy.data.id, purposes: ["service", "face_processing"],
  };
  await call<GiveConsent>(t, token, "POST", "/api/v1/me/consents", body, 204);
}

export async function uploadPortrait(t: Transport, token: string, filePath: string,
                                     key: string): Promise<Schemas["UploadOut"]> {
  // multipart/form-data: the document describes the fields (file + declaration); wx.uploadFile sends them.
  const declaration: Schemas["UploadForm"]["declaration"] = "own_face";
  const response = await t.upload("/api/v1/uploads", filePath, { declaration },
                                  { Authorization: `Bearer ${token}`, "Idempotency-Key": key });
  if (response.status !== 201) throw new ApiFailure<CreateUpload>(response.status, response.body as Failure<CreateUpload>);
  return (response.body as Ok<CreateUpload, 201>).data;
}

export async function startJob(t: Transport, token: string, style: string, uploads: string[],
                               key: string): Promise<Schemas["JobOut"]> {
  const body: JsonOf<CreateJob["requestBody"]> = { style, uploads };
  return ((await call<CreateJob>(t, token, "POST", "/api/v1/jobs", body, 202, key)) as Ok<CreateJob, 202>).data;
}

/** What the job page shows: queue_position is 1-based, so N means N-1 people ahead. */
export function queueText(job: Schemas["JobOut"]): string {
  if (job.status !== "queued") return job.status;
  if (job.queue_position == null) return "排队中";
  return `排队第 ${job.queue_position} 位，前面还有 ${job.queue_position - 1} 人`;
}

export async function followJob(t: Transport, token: string, id: string,
                                onChange: (text: string) => void): Promise<Schemas["JobOut"]> {
  for (;;) {
    const job = ((await call<GetJob>(t, token, "GET", `/api/v1/jobs/${encodeURIComponent(id)}`, undefined, 200)) as
      Ok<GetJob, 200>).data;
    onChange(queueText(job));
    if (job.status === "succeeded" || job.status === "failed" || job.status === "cancelled") return job;
    // The server says when to ask again (= Retry-After): 2 s near the front or while running, up to 60 s far back.
    const seconds = job.next_poll_after_s ?? 2;
    await new Promise<void>((resolve) => setTimeout(() => resolve(), seconds * 1000));
  }
}

export async function buyOriginal(t: Transport, token: string, resultId: string,
                                  key: string): Promise<Schemas["PaymentParams"] | string> {
  const body: JsonOf<CreateOrder["requestBody"]> = { product: "hd_result", subject: resultId };
  try {
    const created = (await call<CreateOrder>(t, token, "POST", "/api/v1/orders", body, 201, key)) as
      Ok<CreateOrder, 201>;
    return created.data.payment; // → wx.requestPayment(...)
  } catch (failure) {
    if (!(failure instanceof ApiFailure)) throw failure;
    return orderFailureText((failure as ApiFailure<CreateOrder>).body.error.code);
  }
}

/** Every code POST /orders can answer is handled: a code added to the document breaks this switch. */
export function orderFailureText(code: ErrorCodeOf<CreateOrder>): string {
  switch (code) {
    case "authentication_required": case "account_blocked": return "请重新登录";
    case "phone_binding_required": return "请先绑定手机号";
    case "consent_required": case "policy_update_required": return "请先同意隐私政策";
    case "unknown_product": case "invalid_order": case "validation_error": case "malformed_json":
    case "unsupported_media_type": case "payload_too_large": return "订单信息有误";
    case "result_not_found": case "job_not_found": return "作品不存在";
    case "wechat_login_required": return "请在微信小程序内支付";
    case "order_not_payable": case "order_expired": return "订单已失效，请重新下单";
    case "already_entitled": return "您已拥有该高清原图，无需重复购买";
    case "idempotency_key_reused": case "invalid_idempotency_key": case "idempotency_key_in_progress":
      return "请求重复，请稍后重试";
    case "payment_unavailable": case "policy_unavailable": case "database_unavailable": case "queue_unavailable":
    case "internal_error": return "服务繁忙，请稍后重试";
    default: {
      const unhandled: never = code;
      return unhandled;
    }
  }
}

/** Every order, page by page (limit + cursor → next_cursor, null on the last page). */
export async function allOrders(t: Transport, token: string): Promise<Schemas["OrderOut"][]> {
  const orders: Schemas["OrderOut"][] = [];
  let cursor: string | null = null;
  do {
    const query: NonNullable<ListOrders["parameters"]["query"]> = { limit: 50, ...(cursor ? { cursor } : {}) };
    const search = Object.entries(query).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join("&");
    const page = (await call<ListOrders>(t, token, "GET", `/api/v1/orders?${search}`, undefined, 200)) as
      Ok<ListOrders, 200>;
    orders.push(...page.data.orders);
    cursor = page.data.next_cursor;
  } while (cursor !== null);
  return orders;
}

/** The whole flow, as the mini-program runs it. */
export async function flow(t: Transport, wxLoginCode: string, phoneCode: string, photo: string,
                           newKey: () => string): Promise<Schemas["PaymentParams"] | string> {
  const session = await login(t, wxLoginCode, { device_id: "dev-1", model: "iPhone 15", os: "iOS 18.1",
                                                app_version: "1.0.0" });
  let token = session.data.token;
  if (session.data.needs_phone) token = (await bindPhone(t, token, phoneCode)).data.token ?? token;
  await acceptPolicy(t, token);
  const upload = await uploadPortrait(t, token, photo, newKey());
  const job = await followJob(t, token, (await startJob(t, token, "pop_art", [upload.id], newKey())).id, () => {});
  const result = job.results[0];
  if (!result) return "生成失败";
  return buyOriginal(t, token, result.id, newKey());
}

// Paths are typed too: a removed route fails the build here.
export const ROUTES: (keyof paths)[] = ["/api/v1/auth/wechat", "/api/v1/uploads", "/api/v1/jobs", "/api/v1/orders"];
