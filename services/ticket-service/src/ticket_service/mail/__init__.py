"""E-mail of the ticket-service: outbound replies (``outbound``), raw inbound mail
(``inbound``) and its attachments (``attachments``). See docs/email.md."""
