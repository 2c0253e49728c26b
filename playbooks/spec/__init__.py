"""The playbook spec: YAML reading, templates, validation, defaults and promotion policy.

Import from the modules themselves: `playbooks.spec.checked.spec_check` (what a user
submitted, checked), `playbooks.spec.validator.spec_validate`,
`playbooks.spec.yaml_loader.spec_parse_yaml`, `playbooks.spec.templates.template_render_value`,
`playbooks.spec.promotion.promotion_policy`, `playbooks.spec.defaults.spec_effective_budget`.
"""
