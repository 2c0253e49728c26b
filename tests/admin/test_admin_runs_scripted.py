"""The run page marks the steps whose output a scripted model wrote: a "scripted" badge next
to that step (and only that step) in the step table, and `_scripted_steps` in the outputs."""

import re

from django.urls import reverse

from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start

SPEC = {
    "name": "Scripted summary",
    "model": {
        "provider": "scripted",
        "name": "gpt-4o-mini",
        "responses": [{"step": "summarise", "content": "A summary."}],
    },
    "tools": ["tools.studio.files.write"],
    "steps": [
        {
            "id": "write_notes",
            "tool": "tools.studio.files.write",
            "args": {"path": "a.txt", "content": "x"},
        },
        {"id": "summarise", "llm": {"prompt": "Summarise the notes."}},
    ],
    "outputs": {"summary": "{{ steps.summarise.output }}"},
}
BADGE = re.compile(
    r'<span class="as-scripted" title="[^"]*"><span class="as-badge"[^>]*>scripted</span></span>'
)


def test_the_run_page_badges_the_scripted_step(active_playbook, author, admin_user, login):
    run = run_start(playbook=active_playbook(SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.outputs == {"summary": "A summary.", "_scripted_steps": ["summarise"]}

    response = login(admin_user).get(reverse("admin:playbooks_run_change", args=[run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert len(BADGE.findall(html)) == 1
    cells = re.findall(r'<td class="field-step_label">\s*<p>(.*?)</p>', html, re.DOTALL)
    assert [BADGE.sub("[scripted]", cell).strip() for cell in cells] == [
        "write_notes",
        "summarise [scripted]",
    ]
    assert "_scripted_steps" in html  # the outputs panel shows the marker too
