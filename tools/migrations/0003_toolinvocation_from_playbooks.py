# ToolInvocation moves here from playbooks in the migration state only: its table keeps the
# name playbooks_toolinvocation (Meta.db_table), so no row moves. Its content type is relabelled
# so permissions and admin log entries granted on the model keep pointing at it.

import django.db.models.deletion
from django.db import migrations, models


def content_type_to_tools(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if ContentType.objects.filter(app_label='tools', model='toolinvocation').exists():
        return
    ContentType.objects.filter(app_label='playbooks', model='toolinvocation').update(
        app_label='tools'
    )


def content_type_to_playbooks(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if ContentType.objects.filter(app_label='playbooks', model='toolinvocation').exists():
        return
    ContentType.objects.filter(app_label='tools', model='toolinvocation').update(
        app_label='playbooks'
    )


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('playbooks', '0007_toolinvocation_moves_to_tools'),
        ('tools', '0002_connections'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ToolInvocation',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('key', models.CharField(max_length=200)),
                        ('step_id', models.CharField(max_length=64)),
                        ('tool', models.CharField(max_length=200)),
                        ('arguments', models.JSONField()),
                        ('status', models.CharField(choices=[('started', 'Started'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('unknown', 'Outcome unknown')], max_length=16)),
                        ('result', models.JSONField(blank=True, null=True)),
                        ('is_error', models.BooleanField(default=False)),
                        ('idempotent', models.BooleanField()),
                        ('started_at', models.DateTimeField()),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_ms', models.FloatField(blank=True, null=True)),
                        ('run', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='tool_invocations', to='playbooks.run')),
                    ],
                    options={
                        'db_table': 'playbooks_toolinvocation',
                        'ordering': ['run', 'id'],
                        'constraints': [models.UniqueConstraint(fields=('key',), name='tool_invocation_key_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_tools, content_type_to_playbooks),
    ]
