import { describe, expect, it } from "vitest";
import {
  encodeMessage,
  MAX_FRAME_BYTES,
  MAX_SERIAL_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  parseConsoleMessage,
  SERIAL_LOG_MIN_PROTOCOL,
  serialLogText,
  serialReadRange,
  type TSerialReply,
  type TSerialRequest,
} from "./index";

const request: TSerialRequest = {
  type: "instance.serial.request",
  requestId: "r-1",
  instanceId: "i-1",
  maxBytes: 4096,
};

describe("instance.serial.request", () => {
  it("round-trips with and without an offset", () => {
    expect(parseConsoleMessage(encodeMessage(request))).toEqual({ ok: true, message: request });
    const from = { ...request, offset: 10 };
    expect(parseConsoleMessage(encodeMessage(from))).toEqual({ ok: true, message: from });
  });

  it("refuses oversize reads, negative offsets and path-like instance ids", () => {
    const bad = [
      { ...request, maxBytes: MAX_SERIAL_BYTES + 1 },
      { ...request, maxBytes: 0 },
      { ...request, offset: -1 },
      { ...request, instanceId: "../../etc/passwd" },
      { ...request, instanceId: "/var/lib/x" },
      { ...request, requestId: "" },
    ];
    for (const b of bad) {
      expect(parseConsoleMessage(JSON.stringify(b))).toMatchObject({
        ok: false,
        error: { code: "invalidMessage", type: "instance.serial.request" },
      });
    }
  });

  it("is an agent-only frame: the console refuses it from an agent", () => {
    expect(parseAgentMessage(encodeMessage(request)).ok).toBe(false);
  });

  it("needs a protocol version this build speaks", () => {
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(SERIAL_LOG_MIN_PROTOCOL);
  });
});

describe("instance.serial.reply", () => {
  const reply: TSerialReply = {
    type: "instance.serial.reply",
    requestId: "r-1",
    instanceId: "i-1",
    data: "Debian GNU/Linux 12 web ttyS0\n",
    offset: 0,
    end: 30,
    size: 30,
  };

  it("round-trips data and typed errors", () => {
    expect(parseAgentMessage(encodeMessage(reply))).toEqual({ ok: true, message: reply });
    const failed: TSerialReply = {
      ...reply,
      data: "",
      end: 0,
      size: 0,
      error: { code: "unknownInstance", message: "not hosted here" },
    };
    expect(parseAgentMessage(encodeMessage(failed))).toEqual({ ok: true, message: failed });
    const badCode = { ...failed, error: { code: "boom", message: "x" } };
    expect(parseAgentMessage(JSON.stringify(badCode)).ok).toBe(false);
  });

  it("caps data at MAX_SERIAL_BYTES, and a worst-case reply still fits one frame", () => {
    expect(parseAgentMessage(encodeMessage({ ...reply, data: "x".repeat(MAX_SERIAL_BYTES + 1) })).ok).toBe(
      false,
    );
    const worst = encodeMessage({ ...reply, data: "\u0001".repeat(MAX_SERIAL_BYTES) });
    expect(worst.length).toBeLessThan(MAX_FRAME_BYTES);
    expect(parseAgentMessage(worst).ok).toBe(true);
  });

  it("is refused when the console sends it to an agent", () => {
    expect(parseConsoleMessage(encodeMessage(reply)).ok).toBe(false);
  });
});

describe("serialReadRange", () => {
  it("reads the tail without an offset", () => {
    expect(serialReadRange({ size: 100, maxBytes: 30 })).toEqual({ start: 70, length: 30 });
    expect(serialReadRange({ size: 10, maxBytes: 30 })).toEqual({ start: 0, length: 10 });
    expect(serialReadRange({ size: 0, maxBytes: 30 })).toEqual({ start: 0, length: 0 });
  });

  it("reads forward from an offset, bounded by maxBytes", () => {
    expect(serialReadRange({ size: 100, maxBytes: 30, offset: 20 })).toEqual({ start: 20, length: 30 });
    expect(serialReadRange({ size: 100, maxBytes: 30, offset: 90 })).toEqual({ start: 90, length: 10 });
    expect(serialReadRange({ size: 100, maxBytes: 30, offset: 100 })).toEqual({ start: 100, length: 0 });
  });

  it("restarts at the tail when the offset is past the end (log truncated or recreated)", () => {
    expect(serialReadRange({ size: 50, maxBytes: 30, offset: 400 })).toEqual({ start: 20, length: 30 });
  });

  it("never reads more than MAX_SERIAL_BYTES whatever is asked", () => {
    expect(serialReadRange({ size: 10_000_000, maxBytes: 10_000_000 }).length).toBe(MAX_SERIAL_BYTES);
  });
});

describe("serialLogText", () => {
  it("drops colour codes, cursor moves, OSC titles and carriage returns", () => {
    const raw =
      "\u001b[0;32m  OK  \u001b[0m] Started ssh.service\r\n\u001b]0;title\u0007login: \u001b[?25h\u0007";
    expect(serialLogText(raw)).toBe("  OK  ] Started ssh.service\nlogin: ");
  });

  it("keeps tabs, newlines and UTF-8 text", () => {
    expect(serialLogText("a\tb\nüñî ✓\n")).toBe("a\tb\nüñî ✓\n");
  });
});
