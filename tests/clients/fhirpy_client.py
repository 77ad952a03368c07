"""An independent FHIR client (fhirpy) against a running Hemolink server.

Usage: python3 fhirpy_client.py BASE_URL
Exits non-zero with a message when anything differs from what R4 http.html says.
"""
import sys

from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound


def main(base: str) -> None:
    client = SyncFHIRClient(base, extra_headers={"Accept": "application/fhir+json"})

    donor = client.resource(
        "Patient",
        identifier=[{"system": "urn:example:donor", "value": "D-42"}],
        name=[{"family": "Okafor", "given": ["Ada"]}],
        gender="female",
        birthDate="1985-04-12",
    )
    donor.save()
    assert donor.id, "the server assigned an id"
    assert donor["meta"]["versionId"] == "1", donor

    read = client.reference("Patient", donor.id).to_resource()
    assert read["name"][0]["family"] == "Okafor", read
    assert read["birthDate"] == "1985-04-12"

    read["gender"] = "other"
    read.save()
    assert read["meta"]["versionId"] == "2", read
    again = client.reference("Patient", donor.id).to_resource()
    assert again["gender"] == "other"

    unit = client.resource(
        "BiologicallyDerivedProduct",
        productCategory="fluid",
        productCode={"text": "Red cells, leucocyte-depleted"},
        storage=[{"temperature": 4.5, "scale": "celsius"}],
    )
    unit.save()
    stored = client.reference("BiologicallyDerivedProduct", unit.id).to_resource()
    assert stored["storage"][0]["temperature"] == 4.5, stored

    try:
        client.resource("Patient", birthDate="2023-02-29").save()
        raise AssertionError("an invalid date was accepted")
    except OperationOutcome as e:
        assert "birthDate" in str(e), str(e)

    read.delete()
    try:
        client.reference("Patient", donor.id).to_resource()
        raise AssertionError("a deleted resource was read")
    except (ResourceNotFound, OperationOutcome):
        pass
    print("fhirpy: every step behaved as R4 says")


if __name__ == "__main__":
    main(sys.argv[1])
