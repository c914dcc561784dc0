"""Option mistakes that both run kinds refuse the same way at start (the shared option
coercion, then mlcore's backbone checks), with words the refusal must contain."""

from __future__ import annotations

BAD_BACKBONE_OPTIONS = [
    ({"colour_space": "lab"}, "unknown option"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"epochs": "many"}, "'epochs' must be a whole number"),
    ({"epochs": "²"}, "'epochs' must be a whole number"),  # isdigit(), then int() fails
    ({"epochs": "9" * 5000}, "'epochs' must be a whole number"),  # past int()'s digits
    ({"epochs": "١٢"}, "'epochs' must be a whole number"),
    ({"epochs": "1e3"}, "'epochs' must be a whole number"),
    ({"arch": "vgg16"}, "arch='vgg16' is not one of"),
    ({"pretrained": True, "arch": "resnet18"}, "No pretrained weights ship for resnet18"),
]
