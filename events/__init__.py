"""Sprints and the pages of each Nexus event (Nexus Sprint Planning, Nexus Daily Scrum, Nexus Sprint
Review, Nexus Sprint Retrospective). Sits above `backlog`; empty until its issue lands."""
