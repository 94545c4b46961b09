// Camera, encoding and message helpers for the kiosk pages. The pages work without a camera:
// every camera feature has a typed or uploaded alternative.

/** Start the front camera in `video`; rejects with a message a member can read. */
export async function startCamera(video, facingMode = "user") {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("This kiosk has no camera available.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (error) {
    const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
    throw new Error(denied ? "The camera is not allowed on this kiosk." : "The camera could not be started.");
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  return stream;
}

export function stopCamera(stream, video) {
  if (stream) for (const track of stream.getTracks()) track.stop();
  if (video) video.srcObject = null;
}

/** UTF-8 text as base64, in chunks (a signature image makes long strings). */
export function toBase64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * The enrolment API's refusal as a headline and the reasons a member can act on. Its messages
 * read "photo 1 (name.jpg): photo rejected: reason; reason" or "photo 1: no face found (...)";
 * a burst's, "only 1 of 5 frames passed the quality gate, 3 needed: photo 2 (...): ...; photo 3
 * (...): ...". Each distinct reason is listed once.
 */
export function quality(error) {
  const status = error && error.status;
  if (status === 429) return { message: "Too many tries in a short time. Please wait a minute and try again.", reasons: [] };
  if (status === 403) return { message: `This photo cannot be enrolled: ${error.message}`, reasons: [] };
  if (status !== 400 && status !== 422) return { message: `Something went wrong: ${error.message}`, reasons: [] };
  let text = String(error.message || "");
  const burst = /^only \d+ of \d+ frames/.test(text);
  text = text.replace(/^only [^:]*: /, "");
  const reasons = [];
  for (const part of text.split(/(?:^|; )photo \d+(?: \([^)]*\))?: /)) {
    for (const reason of part.replace(/^photo rejected: /, "").split("; ")) {
      const r = reason.trim();
      const line = r.charAt(0).toUpperCase() + r.slice(1);
      if (r && !reasons.includes(line)) reasons.push(line);
    }
  }
  const message = burst
    ? "Too few of these photos can be used. Please take them again:"
    : "This photo cannot be used. Please take or choose another one:";
  return { message, reasons };
}
