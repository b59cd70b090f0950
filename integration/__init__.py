"""The Integrated Increment, the Definition of Done and integration issues. Sits above `backlog`;
empty until its issue lands."""
