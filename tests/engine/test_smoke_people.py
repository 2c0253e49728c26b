"""A run through llm → gate → question → llm, resumed by decisions (in-process)."""

from approvals.models import Approval
from approvals.services import approval_answer, approval_approve
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start

SPEC = {
    "name": "People in the loop",
    "inputs": {
        "type": "object",
        "required": ["topic"],
        "properties": {"topic": {"type": "string"}},
    },
    "model": {
        "provider": "scripted",
        "name": "gpt-4o-mini",
        "responses": [
            {
                "step": "outline",
                "content": {"points": ["a", "b"]},
                "usage": {"input_tokens": 100, "output_tokens": 20},
            },
            {"step": "draft", "content": "The final text."},
        ],
    },
    "steps": [
        {
            "id": "outline",
            "llm": {
                "prompt": "Outline {{ inputs.topic }}",
                "output_schema": {"type": "object", "required": ["points"]},
            },
        },
        {
            "id": "check",
            "approval": {"title": "Check outline", "payload": "{{ steps.outline.output }}"},
        },
        {
            "id": "tone",
            "ask": {
                "question": "Which tone?",
                "schema": {"type": "string", "enum": ["dry", "warm"]},
            },
        },
        {
            "id": "draft",
            "llm": {
                "prompt": "Write {{ steps.check.output.points | join(',') }}"
                " in {{ steps.tone.output }}"
            },
        },
    ],
    "outputs": {"text": "{{ steps.draft.output }}", "points": "{{ steps.check.output.points }}"},
}


def test_gate_and_question_pause_and_resume(active_playbook, author, approver):
    playbook = active_playbook(SPEC)
    run = run_start(playbook=playbook, actor=author, inputs={"topic": "tea"})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    assert run.status == "waiting_for_approval"
    gate = Approval.objects.get(run=run, kind="gate")
    assert gate.payload == {"points": ["a", "b"]}
    approval_approve(
        approval=gate, actor=approver, body_hash=gate.body_hash, payload={"points": ["a", "b", "c"]}
    )
    run.refresh_from_db()
    assert run.status == "running"
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    assert (run.status, run.paused_reason) == ("blocked", "question")
    question = Approval.objects.get(run=run, kind="question")
    approval_answer(approval=question, actor=author, answer="warm")
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    # outline and draft came from the scripted model: the outputs say so (_scripted_steps)
    assert run.outputs == {
        "text": "The final text.",
        "points": ["a", "b", "c"],
        "_scripted_steps": ["outline", "draft"],
    }
    types = list(run.events.values_list("type", flat=True))
    assert types[:2] == ["run.queued", "run.started"]
    assert types[-1] == "run.succeeded"
    seqs = list(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.usage_input_tokens >= 100


def test_a_decision_completes_its_step_before_any_worker_runs(active_playbook, author, approver):
    """The approved (edited) payload and the answer are step outputs as soon as the
    decision commits; the worker the doorbell wakes starts at the following step."""
    from playbooks.models import RunStep

    run = run_start(playbook=active_playbook(SPEC), actor=author, inputs={"topic": "tea"})
    run_advance(run_id=run.pk)
    gate = Approval.objects.get(run=run, kind="gate")
    edited = {"points": ["z"]}
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash, payload=edited)
    run.refresh_from_db()
    check = RunStep.objects.get(run=run, step_id="check")
    assert (run.status, run.cursor, run.current_step) == ("running", 2, "check")
    assert (check.status, check.output) == ("succeeded", edited)
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    assert types[-3:] == ["approval.decided", "run.resumed", "step.succeeded"]

    run_advance(run_id=run.pk)  # on to the question
    approval_answer(
        approval=Approval.objects.get(run=run, kind="question"), actor=author, answer="dry"
    )
    tone = RunStep.objects.get(run=run, step_id="tone")
    assert (tone.status, tone.output) == ("succeeded", "dry")
    assert RunStep.objects.filter(run=run, step_id="check").count() == 1  # never re-run
