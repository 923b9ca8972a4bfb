/**
 * API Gateway REST integrations end at 29 s. A Didit call that may take longer (AML with adverse
 * media, proof of address) is cut a little before, so the caller gets our 504 with guidance instead
 * of API Gateway's bare one while the function runs on unseen. The OpenAPI document says so too.
 */
export const API_GATEWAY_BUDGET_MS = 27_500;
