import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from incidents.actors import Actor
from incidents.models import Service
from incidents.services import incident_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            # get_or_create: transactional tests flush the groups the migration made.
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
        if create:
            self.save()


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"service-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class IncidentFactory(factory.Factory):
    """Incidents are filed through incident_create so they get their SLA and timeline."""

    class Meta:
        model = dict

    title = factory.Sequence(lambda n: f"Error rate above 5% on checkout #{n}")
    severity = "P2"
    description = ""
    services = factory.LazyFunction(list)
    detected_at = None
    actor = factory.LazyFunction(lambda: Actor.system("test"))

    @classmethod
    def _create(cls, model_class, **kwargs):
        return incident_create(**kwargs)

    @classmethod
    def _build(cls, model_class, **kwargs):
        raise NotImplementedError("IncidentFactory only creates")
