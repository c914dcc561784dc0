"""What the retrain and similarity-train forms share: the backbone and how long to train."""

from __future__ import annotations

from django import forms


class BackboneForm(forms.Form):
    """A run's architecture (choices set by each form), epochs and input size."""

    arch = forms.ChoiceField()
    epochs = forms.IntegerField(min_value=1, max_value=500)
    image_size = forms.IntegerField(min_value=8, max_value=1024, label="Image size (px)")
