"""contacts.vocabulary: the contact's template variables, their aliases, the
workspace's custom property names and the preview's sample contact."""

from __future__ import annotations

import pytest

from contacts.vocabulary import (
    CONTACT_VARIABLES,
    SAMPLE_CONTACT,
    contact_variables,
    contact_vocabulary,
    custom_property_names,
    preview_contact,
    preview_contact_label,
    with_aliases,
)

pytestmark = pytest.mark.django_db


def test_a_contacts_variables_carry_both_spellings(make_contact):
    ada = make_contact(
        "ada@example.com", firstname="Ada", lastname="Lovelace", jobtitle="Analyst", plan="pro"
    )
    values = contact_variables(ada)
    assert (values["id"], values["contactId"]) == (ada.public_id, ada.public_id)
    assert (values["firstname"], values["firstName"]) == ("Ada", "Ada")
    assert (values["jobtitle"], values["jobTitle"]) == ("Analyst", "Analyst")
    assert (values["name"], values["email"], values["plan"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "pro",
    )


def test_with_aliases_fills_whichever_name_is_missing():
    # A hook run's stored context may carry AnswerPal's spelling only.
    assert with_aliases({"firstName": "Ada", "lastName": "L"}) == {
        "firstName": "Ada",
        "lastName": "L",
        "firstname": "Ada",
        "lastname": "L",
        "name": "Ada L",
    }
    assert with_aliases(None) is None


def test_every_variable_and_alias_is_in_the_vocabulary_with_the_custom_properties():
    vocabulary = contact_vocabulary(["plan"])
    for variable in CONTACT_VARIABLES:
        assert variable.name in vocabulary and variable.alias in vocabulary
    assert "plan" in vocabulary
    assert set(SAMPLE_CONTACT) <= set(vocabulary)


def test_custom_property_names_are_the_workspaces_own(workspace, other_workspace, make_contact):
    make_contact("a@example.com", plan="pro", firstname="A")
    make_contact("b@example.com", seats=3)
    make_contact("c@example.com", other_workspace, secret_project="x")
    assert custom_property_names(workspace.pk) == {"plan", "seats"}  # not the columns
    assert custom_property_names(other_workspace.pk) == {"secret_project"}


def test_the_preview_contact_is_the_first_contact_else_jane_doe(workspace, make_contact):
    variables, contact = preview_contact(workspace.pk)
    assert contact is None and variables["name"] == "Jane Doe"
    first = make_contact("first@example.com", firstname="First")
    make_contact("second@example.com", firstname="Second")
    variables, contact = preview_contact(workspace.pk)
    assert contact == first and variables["firstName"] == "First"


def test_the_preview_says_whom_it_is_for(workspace, make_contact):
    variables, contact = preview_contact(workspace.pk)
    assert preview_contact_label(contact=contact, variables=variables) == (
        "Jane Doe <jane.doe@example.com>, a built-in sample contact (no contact yet)"
    )
    ada = make_contact("ada@example.com", firstname="Ada")
    variables, contact = preview_contact(workspace.pk)
    assert preview_contact_label(contact=contact, variables=variables) == (
        "Ada <ada@example.com>, the workspace's first contact"
    )
    ada.email = ""  # a contact known by its phone only: no empty "<>"
    assert preview_contact_label(contact=ada, variables={"name": "Ada", "email": ""}) == (
        "Ada, the workspace's first contact"
    )
    assert preview_contact_label(contact=ada, variables={"name": "", "email": ""}) == (
        "the contact, the workspace's first contact"
    )
