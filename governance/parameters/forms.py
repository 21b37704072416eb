from django import forms

from governance.parameters.models import Subject

NEW_CONTRACT = ""


class DraftForm(forms.Form):
    subject = forms.ChoiceField(required=False, help_text="Leave empty for a new contract: its symbol comes from the YAML.")
    yaml_text = forms.CharField(label="Rule file (YAML)", widget=forms.Textarea(
        attrs={"rows": 32, "cols": 100, "spellcheck": "false", "class": "vLargeTextField rule-yaml"}))
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 100}),
                                help_text="Why this change: what the committee should weigh.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subject"].choices = [(NEW_CONTRACT, "New contract (from the YAML's symbol)")] + [
            (s.key, str(s)) for s in Subject.objects.order_by("kind", "key")]


class DraftEditForm(forms.Form):
    yaml_text = forms.CharField(label="Rule file (YAML)", widget=forms.Textarea(
        attrs={"rows": 32, "cols": 100, "spellcheck": "false", "class": "vLargeTextField rule-yaml"}))
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 100}))
