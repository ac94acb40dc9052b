"""The CRM example's own code: models, a service layer, and the tools chatgate serves over them."""
