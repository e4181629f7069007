/**
 * A small typed client of the four APIs through the gateway (one origin), written the
 * way a frontend would: openapi-fetch over the types openapi-typescript generates from
 * each service's OpenAPI document. tests/clients/test_typescript_client.py regenerates
 * the types and typechecks this file with `tsc --strict`: an API change that breaks a
 * frontend (a renamed field, a removed operation, a changed id) breaks the test.
 */
import createClient from "openapi-fetch";

import type { components as BillingComponents, paths as BillingPaths } from "../generated/billing-service";
import type { paths as EscalationPaths } from "../generated/escalation-service";
import type { paths as OnboardingPaths } from "../generated/onboarding-service";
import type { components as TicketComponents, operations as TicketOperations, paths as TicketPaths } from "../generated/ticket-service";

export const GATEWAY = "http://127.0.0.1:8000";

export type Problem = TicketComponents["schemas"]["Problem"];
export type Ticket = TicketComponents["schemas"]["TicketOut"];
export type NewTicket = TicketComponents["schemas"]["TicketIn"];
export type Plan = BillingComponents["schemas"]["PlanOut"];
/** Readable operation ids are what the generated operations are keyed by. */
export type CreateTicket = TicketOperations["tickets.create"];
export type UpdateTicket = TicketOperations["tickets.update"];

/** An RFC 9457 problem the API answered with; `code` is what a UI switches on. */
export class ProblemError extends Error {
  readonly code: string;

  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
    this.code = problem.type.split("/").pop() ?? "unknown";
  }
}

function fail(error: Problem | undefined, response: Response): never {
  if (error !== undefined) throw new ProblemError(error);
  throw new Error(`unexpected ${response.status} without a problem body`);
}

export function clients(token: string, baseUrl: string = GATEWAY) {
  const headers = { Authorization: `Bearer ${token}` };
  return {
    ticket: createClient<TicketPaths>({ baseUrl: `${baseUrl}/ticket`, headers }),
    billing: createClient<BillingPaths>({ baseUrl: `${baseUrl}/billing`, headers }),
    onboarding: createClient<OnboardingPaths>({ baseUrl: `${baseUrl}/onboarding`, headers }),
    escalation: createClient<EscalationPaths>({ baseUrl: `${baseUrl}/escalation`, headers }),
  };
}

export type Clients = ReturnType<typeof clients>;

/** A resource and the ETag to send back as If-Match. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

export async function openTicket(api: Clients, ticket: NewTicket): Promise<Versioned<Ticket>> {
  const { data, error, response } = await api.ticket.POST("/v1/tickets", {
    body: ticket,
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
  });
  if (data === undefined) fail(error, response);
  return { value: data, etag: response.headers.get("ETag") ?? "" };
}

export async function listOpenTickets(api: Clients, queue?: string): Promise<Ticket[]> {
  const tickets: Ticket[] = [];
  let cursor: string | undefined;
  do {
    const { data, error, response } = await api.ticket.GET("/v1/tickets", {
      params: { query: { status: "open", queue, limit: 50, cursor } },
    });
    if (data === undefined) fail(error, response);
    tickets.push(...data.items);
    cursor = data.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return tickets;
}

/** Raise the priority with If-Match; a 412 means someone changed it: re-read and retry. */
export async function escalatePriority(
  api: Clients,
  ticket: Versioned<Ticket>,
): Promise<Versioned<Ticket> | "changed-meanwhile"> {
  const { data, error, response } = await api.ticket.PATCH("/v1/tickets/{ticket_id}", {
    params: { path: { ticket_id: ticket.value.id }, header: { "If-Match": ticket.etag } },
    body: { priority: "urgent", assignee_id: null },
    headers: { "Content-Type": "application/merge-patch+json" },
  });
  if (data !== undefined) return { value: data, etag: response.headers.get("ETag") ?? "" };
  if (error !== undefined && new ProblemError(error).code === "etag-mismatch") {
    return "changed-meanwhile";
  }
  fail(error, response);
}

export async function activePlans(api: Clients): Promise<Plan[]> {
  const { data, error, response } = await api.billing.GET("/v1/plans", {
    params: { query: { archived: false } },
  });
  if (data === undefined) fail(error, response);
  return data.items;
}
