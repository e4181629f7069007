// The console's logic, as a browser application would write it against the gateway:
// list tickets, follow GET /ticket/v1/events with fetch streaming (EventSource cannot send
// an Authorization header), open a ticket cross-origin (a CORS preflight: JSON body,
// Authorization and Idempotency-Key are not CORS-safelisted), render every event.
const params = new URLSearchParams(location.search);
const api = params.get("api");
const tenant = params.get("tenant");
const auth = { Authorization: `Bearer ${params.get("token")}` };
const $ = (id) => document.getElementById(id);

function item(text, data) {
  const li = document.createElement("li");
  li.textContent = text;
  Object.assign(li.dataset, data);
  return li;
}

async function listTickets() {
  const response = await fetch(`${api}/ticket/v1/tickets`, { headers: auth });
  if (!response.ok) {
    $("list-state").textContent = `failed: ${response.status}`;
    return;
  }
  const page = await response.json();
  for (const ticket of page.items) {
    $("tickets").append(item(`${ticket.id} ${ticket.subject}`, { ticketId: ticket.id }));
  }
  $("list-state").textContent = `${page.items.length} listed`;
}

// One server-sent-events block ("field: value" lines; ":" starts a comment).
function onBlock(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) {
      if (line.slice(1).trim() === "connected") {
        // the server has subscribed this stream: what is created from now on reaches it
        $("stream-state").textContent = "live";
        $("create").disabled = false;
      }
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return; // a heartbeat
  const event = JSON.parse(data.join("\n"));
  const ticketId = event.data?.ticket_id ?? "";
  $("events").append(item(`${type} ${ticketId}`, { type, ticketId }));
}

async function follow() {
  const response = await fetch(`${api}/ticket/v1/events`, {
    headers: { ...auth, Accept: "text/event-stream" },
  });
  if (!response.ok) {
    $("stream-state").textContent = `failed: ${response.status}`;
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      onBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
  $("stream-state").textContent = "closed";
}

async function createTicket() {
  const response = await fetch(`${api}/ticket/v1/tickets`, {
    method: "POST",
    headers: {
      ...auth,
      "Content-Type": "application/json",
      "Idempotency-Key": `console-${Date.now()}-${Math.random().toString(16).slice(2)}`,
    },
    body: JSON.stringify({
      tenant_id: tenant,
      requester: { email: "pat@example.com", name: "Pat Doe" },
      channel: "web",
      subject: "Opened from the browser console",
      body: "The export button does nothing.",
    }),
  });
  const body = await response.json();
  if (response.status !== 201) {
    $("created").textContent = `failed: ${response.status} ${body.detail ?? ""}`;
    return;
  }
  $("created").textContent = `created ${body.id}`;
  $("created").dataset.ticketId = body.id;
  // readable only because the API exposes it to scripts (Access-Control-Expose-Headers)
  $("created").dataset.location = response.headers.get("Location") ?? "";
}

$("create").addEventListener("click", createTicket);
listTickets();
follow();
