"""Factories for the workflow's people: users in the groups the policy names."""
import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from governance.parameters.policy import role_group


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")
    is_staff = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or ():
            group, _ = Group.objects.get_or_create(name=role_group(role))
            self.groups.add(group)
        if create:
            self.save()
