"""What the alias endpoints read (types only: provisioning.aliasrules checks the values, as
for the admin and createalias) and what they answer."""

from rest_framework import serializers

from provisioning.aliasrules import MAX_DESTINATIONS

# --- input ---------------------------------------------------------------------------------


class AliasSaveSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=254, help_text="The alias's full address: bureau@octopus-soignies.be."
    )
    destinations = serializers.ListField(
        child=serializers.CharField(max_length=254, allow_blank=True),
        allow_empty=True,
        help_text=f"Full addresses (1 to {MAX_DESTINATIONS}): mailboxes or aliases of ours, or "
        "outside addresses. An existing alias gets its destinations replaced (as createalias).",
    )
    active = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Omitted: a new alias is active, an existing one keeps its state.",
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Champ inconnu."] for name in unknown})
        return attrs


class AliasFilterSerializer(serializers.Serializer):
    domain = serializers.CharField(required=False, max_length=253)


# --- answers -------------------------------------------------------------------------------


class AliasStateSerializer(serializers.Serializer):
    """An alias's address and state; `synced` once the worker wrote it to the mail table."""

    address = serializers.CharField()
    domain = serializers.CharField(source="domain.name")
    active = serializers.BooleanField()
    deleted = serializers.BooleanField(help_text="True: its rows are leaving the mail table.")
    synced = serializers.BooleanField()
    destination_count = serializers.SerializerMethodField()

    def get_destination_count(self, alias) -> int:
        return len(alias.destinations.all())


class AliasDestinationSerializer(serializers.Serializer):
    address = serializers.CharField()
    external = serializers.BooleanField(help_text="An outside address (not a domain of ours).")


class AliasSerializer(AliasStateSerializer):
    """An alias as the list shows it, with where its mail goes."""

    local_part = serializers.CharField()
    destinations = AliasDestinationSerializer(many=True)
    sync_error = serializers.CharField(help_text="Why the mail table is not written yet, if so.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AliasPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AliasSerializer(many=True)


class AliasSavedSerializer(serializers.Serializer):
    """201 (created) or 200 (destinations replaced): recorded; the worker writes the mail
    table (`synced`). No list of destinations: the answer may be kept for a retry with the
    same Idempotency-Key (a warning may still name an outside address the caller sent)."""

    alias = AliasStateSerializer()
    created = serializers.BooleanField()
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="What never refuses but should be known (an outside destination and SPF...).",
    )
