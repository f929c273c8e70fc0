"""The Socket.IO side: authentication, event handlers, and delivery of domain events."""
