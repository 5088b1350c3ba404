from django import template

from incidents.paging import selectors

register = template.Library()


@register.inclusion_tag("paging/_oncall.html")
def oncall_summary():
    """The dashboard's line: who is on call on each schedule, until when."""
    return {"lines": selectors.oncall_now(), "links": True}


@register.inclusion_tag("paging/_oncall.html")
def oncall_for_service(service):
    """A service card's line; the services page reads them for every card at once (``oncall_lines``)."""
    lines = getattr(service, "oncall_lines", None)
    return {"lines": selectors.oncall_for_service(service) if lines is None else lines, "links": False}
