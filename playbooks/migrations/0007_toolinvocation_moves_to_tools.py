# ToolInvocation is the broker's model now (tools.models): removed from playbooks' state only.
# Its table, playbooks_toolinvocation, stays where it is; tools 0003 takes the model over.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('playbooks', '0006_run_slice_failures'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='ToolInvocation'),
            ],
            database_operations=[],
        ),
    ]
