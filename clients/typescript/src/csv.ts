// The CSV path's answer as a file: its text and the name the server gave it.

/** What `downloadCsv()` gives: the server's file name, its text, and the text as a Blob. */
export interface CsvFile {
  /** From `Content-Disposition` (`call-heatmap-2026-02-09-to-2026-03-10-calls.csv`). */
  filename: string;
  /** The CSV itself: UTF-8, CRLF line ends, a header row then one row per slot. */
  text: string;
  /** The text as a `text/csv` Blob, for `saveCsv()` or an upload. */
  blob(): Blob;
}

/**
 * The name used when `Content-Disposition` cannot be read: a cross-origin page sees it only
 * when the server's CORS exposes it (docs/install.md's block does).
 */
export const FALLBACK_CSV_FILENAME = "call-heatmap.csv";

/** The file the server answered, named by its `Content-Disposition`. */
export function csvFile(text: string, contentDisposition: string | null): CsvFile {
  return {
    filename: filenameOf(contentDisposition) ?? FALLBACK_CSV_FILENAME,
    text,
    blob: () => new Blob([text], { type: "text/csv;charset=utf-8" }),
  };
}

/** The `filename*` (RFC 6266, UTF-8) or `filename` of a `Content-Disposition` header. */
export function filenameOf(header: string | null): string | null {
  if (header === null) {
    return null;
  }
  const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(header)?.[1];
  if (extended !== undefined) {
    try {
      return decodeURIComponent(extended.trim());
    } catch {
      // A malformed escape: fall back to the plain parameter.
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  const name = plain?.[1]?.replace(/\\(.)/g, "$1") ?? plain?.[2];
  return name ? name : null;
}

/**
 * Saves the file in the browser: a hidden `<a download=filename>` on an object URL, clicked.
 * `doc` defaults to the page's `document`.
 */
export function saveCsv(file: CsvFile, doc: Document = globalThis.document): void {
  const url = URL.createObjectURL(file.blob());
  const link = doc.createElement("a");
  link.href = url;
  link.download = file.filename;
  link.style.display = "none";
  doc.body.append(link);
  try {
    link.click();
  } finally {
    link.remove();
    // The download has taken its own reference by now; the URL would otherwise live
    // as long as the page.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
