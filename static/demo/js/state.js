// The page's state, one object: exposed read-only as window.__demo for scripted runs (the browser tests read
// the upload, result, share, receipts and so on from it), and the session token, which the API layer sends.
import { setToken as setApiToken } from "./api.js";

export const state = {
  config: null, users: {}, user: null, login: null, policy: null, upload: null, styles: [], style: null,
  job: null, result: null, product: null, order: null, payment: null, preview: null, hd: null, receipts: [],
  sourceReceipt: null, export: null, cancelled: false, phoneMasked: null, token: null, minor: false, guardian: null,
  share: null, operations: [],
};
window.__demo = state;

export function setToken(value) {
  state.token = value;
  setApiToken(value);
}
