"""Forms of the Nexus Sprint Review page. They parse the shape of input; the services
(`events.services.review`) check the rules and raise `DomainError`, which the views put next to the
field it names."""

from __future__ import annotations

from django import forms

from backlog.errors import DomainError
from events.services.review import STAKEHOLDER_MAX, TEXT_MAX


class _DomainErrors(forms.Form):
    def add_domain_error(self, exc: DomainError) -> None:
        """Show a service's refusal next to the field it names (or above the form)."""
        self.add_error(exc.field if exc.field in self.fields else None, exc.message)


class NoteForm(_DomainErrors):
    """A new piece of stakeholder feedback."""

    text = forms.CharField(
        max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Feedback", strip=True
    )
    stakeholder = forms.CharField(
        max_length=STAKEHOLDER_MAX, required=False, label="Given by", help_text="A name or a role"
    )


class NotePbiForm(_DomainErrors):
    """Make a note into a new PBI: its title and description (prefilled from the note)."""

    title = forms.CharField(max_length=300, label="Title of the new PBI")
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Description", strip=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class NoteLinkForm(_DomainErrors):
    """Link a note to an existing PBI (by id) and change its title and description in the same step."""

    item = forms.IntegerField(min_value=1, label="PBI (id)")
    title = forms.CharField(max_length=300, required=False, label="Its title")
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Its description", strip=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    item_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)
