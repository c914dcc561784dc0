"""Similar-item search: localize and crop, embed, index, search, evaluate."""
