"""The internal contract (ADR 17): the messages between the control plane, the allocator and
the gateway, defined once (`messages`), and the one client of it (`client`)."""
