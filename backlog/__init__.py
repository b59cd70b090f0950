"""The ground floor: Nexus, Scrum Teams, memberships, the Product Backlog and its Product Backlog Items,
the Definition of Workflow, team involvement, the transition log and ordering. Imports no other app."""
