// Every way a call can fail, as one error type carrying the body's `code`, so a page
// branches on `error.code` (and `error.status`) whatever went wrong.

/** `code` of a 400 whose body maps each bad parameter to its messages. */
export const INVALID_QUERY = "invalid_query";
/** `code` when no answer arrived at all: offline, DNS, refused, or blocked by CORS. */
export const NETWORK_ERROR = "network_error";
/** `code` when an answer arrived that is not one the contract describes (a proxy's page). */
export const UNEXPECTED_RESPONSE = "unexpected_response";

/** An error answer of the API, or no answer (`status` 0). */
export class HeatmapApiError extends Error {
  /** The HTTP status; 0 when the request never got an answer (network or CORS). */
  readonly status: number;
  /** The body's `code`; `invalid_query` for a 400's map of fields; `network_error` for status 0. */
  readonly code: string;
  /** The body's `detail`, or for a 400 each field's messages in one line. */
  readonly detail: string;
  /** The 400's bad parameters and their messages (`{tz: ["Unknown time zone; ..."]}`), else `{}`. */
  readonly fields: Record<string, string[]>;

  constructor(
    status: number,
    code: string,
    detail: string,
    fields: Record<string, string[]> = {},
  ) {
    super(status === 0 ? `${code}: ${detail}` : `${status} ${code}: ${detail}`);
    this.name = "HeatmapApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.fields = fields;
  }
}

/** The error for an answer that is not a success: the body read as the contract says. */
export function errorFromAnswer(status: number, body: unknown): HeatmapApiError {
  if (isRecord(body) && typeof body["code"] === "string") {
    const detail = typeof body["detail"] === "string" ? body["detail"] : "";
    return new HeatmapApiError(status, body["code"], detail);
  }
  if (status === 400 && isFieldMap(body)) {
    const detail = Object.entries(body)
      .map(([field, messages]) => `${field}: ${messages.join(" ")}`)
      .join(" ");
    return new HeatmapApiError(status, INVALID_QUERY, detail, body);
  }
  const text = typeof body === "string" ? body.trim().slice(0, 200) : "";
  return new HeatmapApiError(status, UNEXPECTED_RESPONSE, text || `HTTP ${status}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isFieldMap(value: unknown): value is Record<string, string[]> {
  return (
    isRecord(value) &&
    Object.values(value).every(
      (messages) => Array.isArray(messages) && messages.every((m) => typeof m === "string"),
    )
  );
}
