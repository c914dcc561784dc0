"""What the retrain and similarity-train forms share: the backbone and how long to train."""

from __future__ import annotations

from django import forms

from curation import params


class WholeNumberField(forms.IntegerField):
    """An IntegerField that takes only what curation.params takes: ASCII digits (Django's
    own also reads "١٢", " 12 " and "12.0")."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return params.parse_int(value, self.label or "value")
        except params.BadParameter:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class BackboneForm(forms.Form):
    """A run's architecture (choices set by each form), epochs and input size."""

    arch = forms.ChoiceField()
    epochs = WholeNumberField(min_value=1, max_value=500)
    image_size = WholeNumberField(min_value=8, max_value=1024, label="Image size (px)")
